"""The workshop classroom: one server, one account, JupyterLab and cluster per student.

    config      the classroom's one description (/etc/coreos-lab/classroom.json)
    setup       `make classroom` / `make classroom-down`: accounts, labs, firewall, broker, hub
    accounts    a Unix account per student: password, home 0700, a copy of the notebooks
    studentlab  a student's lab: the broker's state (root only) and the student's copy of it
    publish     writes the student's copy, run *as the student* (root never writes there)
    broker      the root service on a unix socket that runs lifecycle calls for the caller's lab
    worker      one lifecycle call for one lab, in a process of its own (the broker starts it)
    passthrough the few read-only `vagrant`/`docker` commands a student may run on the server
    shims       `vagrant` and `docker` as a student types them (classroom/bin)
    netfilter   host firewall: only a lab's owner reaches its subnet and published ports
    teacher     the live table of every student (`lab class status`, the hub service, CSV)
    service     that table as a JupyterHub service at /services/classroom/ (admins only)
    hub         JupyterHub and its proxy, started and stopped (config: classroom/)
    daemons     the broker's and hub's processes: pid files, logs
    engines     a second Docker engine on this host, standing in for a second server
    cli         `lab class ...`

The launcher knows nothing of this package but `LabSettings.broker`: a student's lab names
the broker's socket, and `labs.launcher.brokered` sends the student's calls there.
"""
