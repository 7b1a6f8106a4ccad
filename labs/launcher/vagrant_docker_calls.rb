# Vagrant 2.3.4's docker provider asks the Docker engine the same questions over and over. It
# reads a machine's state with two `docker ps` calls, and reads it again at nearly every step: a
# 3-machine `vagrant status` ran `docker ps` 50 times, `lab up`'s three Vagrant calls 84 times.
# Before it creates a machine it also inspects every container on the host, one `docker inspect`
# each, to learn which ports are taken: a classroom of 20 holds over 60 containers.
#
# Here one driver (one machine's) reuses a `docker ps` answer until it runs anything other than
# a read, or for PS_FRESH_S at most; and the host's containers are inspected in one call.
# (vagrant_docker_races.rb, loaded after this file, asks that inspection again if a container
# vanished meanwhile.)
module LabDockerFewerCalls
  PS_FRESH_S = 1.0
  READS = %w[ps inspect version images].freeze

  def execute(*cmd, **opts, &block)
    return super unless cmd[0] == "docker"
    unless READS.include?(cmd[1])
      @lab_ps_answers = nil           # this driver changes something: ask again afterwards
      return super
    end
    return super unless cmd[1] == "ps" && block.nil?

    @lab_ps_answers ||= {}
    now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    asked_at, answer = @lab_ps_answers[cmd]
    return answer if asked_at && now - asked_at < PS_FRESH_S

    answer = super
    @lab_ps_answers[cmd] = [now, answer]
    answer
  end

  # Upstream's read_used_ports, with every container inspected in one `docker inspect`.
  def read_used_ports
    @lab_ps_answers = nil             # the host as it is now, not as it was a moment ago
    used_ports = Hash.new { |hash, key| hash[key] = Set.new }
    containers = all_containers
    return used_ports if containers.empty?

    JSON.parse(execute("docker", "inspect", *containers)).each do |container|
      (container.dig("HostConfig", "PortBindings") || {}).each_value do |bindings|
        (bindings || []).each do |binding|
          host_ip = binding["HostIp"].to_s.empty? ? "*" : binding["HostIp"]
          used_ports[binding["HostPort"]].add(host_ip)
        end
      end
    end
    used_ports
  end
end

VagrantPlugins::DockerProvider::Driver.prepend(LabDockerFewerCalls)
