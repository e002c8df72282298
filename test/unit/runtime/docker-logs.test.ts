/** demuxLogs: the engine's log of a container without a TTY comes framed, a TTY's raw (src/runtime/docker-engine.ts). */
import { strict as assert } from 'node:assert';
import { demuxLogs } from '../../../src/runtime/docker-engine.js';

function frame(stream: 1 | 2, text: string): Buffer {
  const body = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

describe('container logs: framed and raw', () => {
  it('joins the frames of stdout and stderr in the order written', () => {
    assert.equal(demuxLogs(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n'), frame(1, 'more\n')])), 'out\nerr\nmore\n');
  });

  it('a TTY\'s output is given as it is, however short', () => {
    for (const raw of ['ok\r\n', 'x', 'hello from the console\r\n']) assert.equal(demuxLogs(Buffer.from(raw)), raw);
    assert.equal(demuxLogs(Buffer.alloc(0)), '');
  });
});
