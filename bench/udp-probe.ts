// A client on another machine of the LAN: sends a numbered UDP datagram to <address>:<port> every 10 ms and notes
// when answers arrive. Runs until its stdin closes, then prints {answered, sent, gaps}: every interval longer than
// GAP_MS without an answer, i.e. every time the container did not answer (each freeze, pre-copy rounds included).
// Run inside a namespace: nsenter --net=/run/netns/<user ns> node dist/bench/udp-probe.js <address> <port>
import dgram from 'node:dgram';

const INTERVAL_MS = 10;
/** Shorter silences are the probing's own jitter. */
const GAP_MS = 30;

const [address, portText] = process.argv.slice(2);
const port = Number(portText);
if (!address || !Number.isInteger(port)) {
  console.error('usage: udp-probe <address> <port>');
  process.exit(2);
}

const socket = dgram.createSocket('udp4');
const now = () => Number(process.hrtime.bigint() / 1_000_000n);
let sent = 0;
let answered = 0;
let last: number | null = null;
const gaps: { atMs: number; ms: number }[] = [];
const t0 = now();

socket.on('message', () => {
  const t = now();
  if (last !== null && t - last > GAP_MS) gaps.push({ atMs: last - t0, ms: t - last });
  last = t;
  answered++;
});
const timer = setInterval(() => {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(sent++, 0);
  socket.send(b, port, address);
}, INTERVAL_MS);

process.stdin.resume();
process.stdin.on('end', () => {
  clearInterval(timer);
  // A silence still going on when probing stops counts up to now.
  const t = now();
  if (last !== null && t - last > GAP_MS) gaps.push({ atMs: last - t0, ms: t - last });
  console.log(JSON.stringify({ sent, answered, gaps }));
  socket.close();
});
