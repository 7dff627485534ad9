# shellcheck shell=bash
# The sshd configuration every sandboxer host runs with — the machine itself
# (setup-host.sh) and the test hosts h1..h3 (test-hosts.sh): key-only root login,
# no PAM, enough sessions for parallel tests. Sourced, not run.
#
# sshd_config WRITER PORT ADDRESS HOSTKEY PIDFILE  prints it; callers append their
# own lines.
sshd_config() {
  cat <<SSHD
# managed by sandboxer's scripts/$1
Port $2
ListenAddress $3
HostKey $4
PidFile $5
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# Lets sandboxer send SHLVL=1 so that bash skips its interactive rc files for each
# command (they can cost more than the command).
AcceptEnv SHLVL
# compose-ssh keeps one session per container it works inside (its agent), all
# on one master connection.
MaxSessions 1024
MaxStartups 64:30:128
SSHD
}
