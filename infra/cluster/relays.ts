/**
 * PCs live in network namespaces with no route to the host, and no address may exist outside namespaces we
 * create. So a PC reaches a host service (Temporal, migration-api) at 127.0.0.1:<port> inside its namespace,
 * where a relay forwards to a unix socket that a host-side relay forwards to the real port.
 */

/** Host side: unix socket -> 127.0.0.1:port. */
export function hostRelayArgv(socket: string, port: number): string[] {
  return ['socat', `UNIX-LISTEN:${socket},fork,unlink-early,mode=600`, `TCP:127.0.0.1:${port}`];
}

/** PC side, inside `namespace`: 127.0.0.1:port -> unix socket. */
export function namespaceRelayArgv(namespace: string, port: number, socket: string): string[] {
  return inNamespace(namespace, [
    'socat',
    `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`,
    `UNIX-CONNECT:${socket}`,
  ]);
}

/**
 * Runs argv inside a network namespace. nsenter switches only the network namespace and execs (the PID stays the
 * command's own); `ip netns exec` would also remount /sys, hiding the cgroup mounts runc needs.
 */
export function inNamespace(namespace: string, argv: string[]): string[] {
  return ['nsenter', `--net=/run/netns/${namespace}`, ...argv];
}
