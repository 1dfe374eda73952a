import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { codesByPath, eventually, send, startUpstream } from './support.js';

const MiB = 1024 * 1024;

/**
 * An upstream in a process of its own (so the test process's RSS is the gateway's alone): its `_service` SDL has
 * `flood`, answered with a 100 MB JSON string streamed in 64 KiB chunks (with backpressure), and `small`.
 * It prints its port, then, for each flood, how many bytes it got out before the connection went.
 */
const FLOOD_UPSTREAM = `
const http = require('node:http');
const SDL = 'type Query { flood: String @public small: String @public }';
const chunk = Buffer.alloc(64 * 1024, 'x');
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (part) => (body += part));
  req.on('end', () => {
    const query = String(JSON.parse(body).query);
    if (query.includes('_service')) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { _service: { sdl: SDL } } }));
    if (!query.includes('flood')) return res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"small":"ok"}}');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"data":{"flood":"');
    let sent = 0;
    res.on('close', () => process.stdout.write('sent ' + sent + '\\n'));
    const more = () => {
      while (sent < 100 * 1024 * 1024 && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      if (!res.destroyed) res.end('"}}');
    };
    more();
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
`;

describe('an upstream that streams 100 MB', () => {
  let child: ChildProcess;
  let output = '';
  let gateway: TestGateway;
  const lines: string[] = [];

  beforeAll(async () => {
    child = spawn(process.execPath, ['-e', FLOOD_UPSTREAM], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout?.setEncoding('utf8').on('data', (text: string) => (output += text));
    await eventually(() => /port \d+/.test(output));
    const port = /port (\d+)/.exec(output)?.[1];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    // A timeout far longer than the stream takes on loopback: only the cap can end it early.
    gateway = await startGateway({ config: testConfig({ UPSTREAMS: `flood=http://127.0.0.1:${port}/graphql`, UPSTREAM_TIMEOUT_MS: '14000', UPSTREAM_SCHEMA_POLL_SECONDS: '0' }), logger });
  });
  afterAll(async () => {
    await gateway?.stop();
    if (child && child.exitCode === null) {
      child.kill();
      await once(child, 'exit');
    }
  });

  it('answers UPSTREAM_UNAVAILABLE at the cap, closes the connection, keeps its memory and serves the next request', async () => {
    expect((await send(gateway.url, '{ small }')).body).toEqual({ data: { small: 'ok' } });
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    let answer;
    try {
      answer = await send(gateway.url, '{ flood }');
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);

    expect(answer.status).toBe(200);
    expect(answer.body.data).toEqual({ flood: null });
    expect(codesByPath(answer)).toEqual({ flood: 'UPSTREAM_UNAVAILABLE' });
    // Reading 100 MB into a string (and parsing it) would add well over 100 MB.
    expect(peak - before).toBeLessThan(48 * MiB);

    // The upstream saw its connection closed long before its 100 MB were out.
    await eventually(() => /sent \d+/.test(output));
    expect(Number(/sent (\d+)/.exec(output)?.[1])).toBeLessThan(40 * MiB);

    const logged = lines.find((line) => line.includes('too-large'));
    expect(logged).toContain('flood');
    expect(logged).toContain(String(8 * MiB));
    expect(logged).not.toContain('xxxx');

    expect((await send(gateway.url, '{ small }')).body).toEqual({ data: { small: 'ok' } });

    // The same through the stitched path (the gateway's own field beside it).
    const mixed = await send(gateway.url, '{ flood me { id } }');
    expect(codesByPath(mixed)).toEqual({ flood: 'UPSTREAM_UNAVAILABLE', me: 'UNAUTHENTICATED' });
  });
});

describe('schema loading under UPSTREAM_MAX_RESPONSE_BYTES', () => {
  it('does not load an SDL longer than the cap: the upstream stays not ready and the log names it and the cap', async () => {
    const padding = `"""${'A long description. '.repeat(200)}"""\n`;
    const shop = await startUpstream({ service: true, advertisedSdl: `${padding}type Query { products: [String!]! @public }` });
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const gateway = await startGateway({ config: testConfig({ UPSTREAMS: `shop=${shop.url}`, UPSTREAM_MAX_RESPONSE_BYTES: '2048', UPSTREAM_SCHEMA_POLL_SECONDS: '0' }), logger });
    try {
      expect((await fetch(`${gateway.url}/readyz`)).status).toBe(503);
      expect(codesByPath(await send(gateway.url, '{ products }'))).toEqual({ '': 'GRAPHQL_VALIDATION_FAILED' });
      const logged = lines.find((line) => line.includes('too-large'));
      expect(logged).toContain('shop');
      expect(logged).toContain('2048');
      expect(logged).not.toContain('A long description');
    } finally {
      await gateway.stop();
      await shop.close();
    }
  });
});
