"""The launcher: what brings a lab's machines to life on this host (the `lab` command).

`lifecycle` is the one API (up, status, halt, resume, reset, down, discovery) that the `lab`
CLI, the notebooks' drills, the benchmarks and the classroom broker call; it alone drives
Vagrant (`vagrant`) and the Docker engine (`dockerhost`, `image`). `settings` names a lab.
"""
