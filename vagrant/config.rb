# Size the CoreOS cluster created by Vagrant
$num_instances=3

# Change basename of the VM
# The default value is "core", which results in VMs named starting with
# "core-01" through to "core-${num_instances}".
$instance_name_prefix="core"

# Change the version of CoreOS to be installed
# To deploy a specific version, simply set $image_version accordingly.
# For example, to deploy version 709.0.0, set $image_version="709.0.0".
# The default value is "current", which points to the current version
# of the selected channel
#$image_version = "current"

# Official CoreOS channel from which updates should be downloaded
# (CoreOS is gone: in this lab the channel selects nothing; the line is kept as 2015 had it)
$update_channel='stable'

# Used to fetch a new discovery token for a cluster of size $num_instances.
# 2015: "https://discovery.etcd.io/new?size=#{$num_instances}"; the lab runs its own
# discovery service, whose address the Vagrantfile puts in $lab_discovery.
$new_discovery_url="#{$lab_discovery}/new?size=#{$num_instances}"

# Automatically replace the discovery token on 'vagrant up'
if File.exist?(CLOUD_CONFIG_PATH) && ARGV[0].eql?('up')
  # 2015 did this in Ruby right here: fetch a token from $new_discovery_url (open-uri), load
  # user-data with YAML, set coreos.etcd2.discovery (and coreos.etcd.discovery) to it, keep
  # reboot-strategy 'off' a string, and rewrite user-data in place. The lab does exactly that
  # in one place, labs/launcher/userdata.py (`lab reset` uses it too), and writes the copy that
  # is uploaded ($rendered_user_data, in the lab's state directory): your checkout stays clean.
  lab("user-data", "--new-discovery-url", $new_discovery_url)
end

#
# coreos-vagrant is configured through a series of configuration
# options (global ruby variables) which are detailed below. To modify
# these options, first copy this file to "config.rb". Then simply
# uncomment the necessary lines, and modify the values.

# Enable port forwarding of Docker TCP socket
# Set to the TCP port you want exposed on the *host* machine, default is 2375
# (not offered by the lab: each machine's docker API stays inside the machine;
# the notebooks reach it over SSH)
#$expose_docker_tcp=2375

# Customize VMs (VM providers only; a container takes what it needs)
#$vm_gui = false
#$vm_memory = 1024
#$vm_cpus = 1

# Share additional folders to the CoreOS VMs
# For example,
# $shared_folders = {'/path/on/host' => '/path/on/guest', '/home/foo/app' => '/app'}
# or, to map host folders to guest folders of the same name,
# $shared_folders = Hash[*['/home/foo/app1', '/home/foo/app2'].map{|d| [d, d]}.flatten]
#$shared_folders = {}

# Enable port forwarding from guest(s) to host machine, syntax is: { 80 => 8080 }, auto correction is enabled by default.
#$forwarded_ports = {}
