# Vagrant 2.3.4's docker provider reads the whole host before it creates a machine: it lists
# every container (`docker ps -a`) or network (`docker network ls`) and then inspects each one.
# Anything removed in between -- another lab going down beside this one, a classroom of labs,
# `make test` beside a learner's cluster -- made `vagrant up` fail with "No such object" (or "network ... not found").
# Those reads are asked again, with the host as it is now; any other error stays an error.
module LabDockerHostRaces
  GONE = /No such (object|container|network)|network \S+ not found/
  ATTEMPTS = 10

  %i[read_used_ports network_defined? network_containing_address].each do |name|
    define_method(name) do |*args|
      attempt = 1
      begin
        super(*args)
      rescue VagrantPlugins::DockerProvider::Errors::ExecuteError => e
        raise unless attempt < ATTEMPTS && e.extra_data[:stderr].to_s =~ GONE
        attempt += 1
        retry
      end
    end
  end
end

VagrantPlugins::DockerProvider::Driver.prepend(LabDockerHostRaces)
