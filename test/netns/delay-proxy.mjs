// A TCP proxy that delays one direction: every chunk from the client waits DELAY_MS before it
// goes upstream, in order. It stands in for `tc netem delay` where the kernel lacks netem.
// Usage: node delay-proxy.mjs <listen port> <upstream host> <upstream port> <delay ms>
import net from 'node:net';

const [listenPort, host, port, delayMs] = process.argv
  .slice(2)
  .map((v, i) => (i === 1 ? v : Number(v)));

net
  .createServer((client) => {
    const upstream = net.connect(port, host);
    let chain = Promise.resolve();
    client.on('data', (chunk) => {
      const due = Date.now() + delayMs;
      chain = chain
        .then(() => new Promise((r) => setTimeout(r, Math.max(0, due - Date.now()))))
        .then(() => {
          if (!upstream.destroyed) upstream.write(chunk);
        });
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  })
  .listen(listenPort, '127.0.0.1', () => process.stdout.write('proxy ready\n'));
