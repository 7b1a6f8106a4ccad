"""The lab's SSH layer: the machines reached over one persistent paramiko connection each.

    config     an ssh_config read into what the layer needs (HostConfig)
    transport  connecting: host-key pinning, authentication, OpenSSH's extra channel types
    machine    one machine: its connection, commands (run, interact) and channels
    results    what a command did (Result, Transcript)
    errors     what a learner can understand and fix (ClusterError and its kinds)

`labs.cluster.Cluster` puts the machines of one ssh_config together.
"""
