import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { checkEntryPath, checkLinkTarget, rewriteImageArchive } from '../../../src/glance-bridge/archive.js';
import { ImageVerificationFailed, InvalidImageArchive } from '../../../src/glance-bridge/errors.js';
import { VerifyingStream } from '../../../src/glance-bridge/verify.js';
import { chunked, collect, dockerArchive, layerTar, makeTar, ociArchive, readTar, sha256, sha512, type TestEntry } from './helpers.js';

async function rewrite(input: Buffer | Readable, opts = {}) {
  const r = rewriteImageArchive(Buffer.isBuffer(input) ? chunked(input, 1000) : input, { imageId: 'img-1', ...opts });
  const [out, summary] = await Promise.allSettled([collect(r.output), r.summary]);
  return { out, summary };
}

async function rejects(input: Buffer, pattern: RegExp): Promise<Error> {
  const { out, summary } = await rewrite(input);
  assert.equal(summary.status, 'rejected', 'the archive was accepted');
  assert.equal(out.status, 'rejected', 'the output ended normally');
  const err = (summary as PromiseRejectedResult).reason as Error;
  assert.ok(err instanceof InvalidImageArchive, `not an InvalidImageArchive: ${String(err)}`);
  assert.match(err.message, pattern);
  assert.match(err.message, /^Image img-1 holds no valid container image archive: /);
  assert.equal((out as PromiseRejectedResult).reason, err, 'the consumer sees the same error');
  return err;
}

/** A valid docker archive with extra entries placed before manifest.json. */
async function withExtra(extra: TestEntry[]): Promise<Buffer> {
  return (await dockerArchive([await layerTar('a.txt', 'a')], { extra })).archive;
}

describe('glance-bridge archive: entry paths and links', () => {
  it('normalises harmless names and rejects escaping ones', () => {
    assert.equal(checkEntryPath('./abc/layer.tar'), 'abc/layer.tar');
    assert.equal(checkEntryPath('blobs/sha256/'), 'blobs/sha256');
    assert.equal(checkEntryPath('a/b/../c'), 'a/c');
    assert.equal(checkEntryPath('./'), '');
    assert.throws(() => checkEntryPath('/etc/passwd'), /absolute path/);
    assert.throws(() => checkEntryPath('../x'), /leaves the archive/);
    assert.throws(() => checkEntryPath('a/../../x'), /leaves the archive/);
    assert.throws(() => checkEntryPath('..'), /leaves the archive/);
  });

  it('resolves symlinks against their directory and hard links against the root', () => {
    assert.equal(checkLinkTarget('b/layer.tar', 'symlink', '../a/layer.tar'), 'a/layer.tar');
    assert.equal(checkLinkTarget('b/x', 'link', 'a/layer.tar'), 'a/layer.tar');
    assert.throws(() => checkLinkTarget('b/layer.tar', 'symlink', '../../etc/shadow'), /points outside the archive/);
    assert.throws(() => checkLinkTarget('l', 'symlink', '/etc'), /absolute target/);
    assert.throws(() => checkLinkTarget('l', 'link', '../x'), /points outside the archive/);
  });
});

describe('glance-bridge archive: docker save archives', () => {
  it('passes every layer byte through, drops RepoTags and repositories, reports the image id', async () => {
    const l1 = await layerTar('bin/busybox', 'BUSYBOX');
    const l2 = await layerTar('etc/motd', 'hello');
    const img = await dockerArchive([l1, l2], { repoTags: ['victim:latest'] });
    const { out, summary } = await rewrite(img.archive);
    assert.equal(summary.status, 'fulfilled', String((summary as PromiseRejectedResult).reason));
    const s = (summary as PromiseFulfilledResult<Awaited<ReturnType<typeof rewriteImageArchive>['summary']>>).value;
    assert.equal(s.format, 'docker-archive');
    assert.equal(s.imageId, img.configDigest);
    assert.equal(s.layerPaths.length, 2);
    const entries = await readTar((out as PromiseFulfilledResult<Buffer>).value);
    const manifest = JSON.parse(entries.find((e) => e.name === 'manifest.json')!.data.toString());
    assert.deepEqual(manifest, [{ Config: `${img.configDigest.slice(7)}.json`, RepoTags: null, Layers: s.layerPaths }]);
    assert.ok(!entries.some((e) => e.name === 'repositories'));
    const layers = s.layerPaths.map((p) => entries.find((e) => e.name === p)!.data);
    assert.deepEqual(layers.map((l) => `sha256:${sha256(l)}`), img.diffIds);
  });

  it('accepts a layer stored as a symlink to another layer (docker save does that)', async () => {
    const l1 = await layerTar('x', 'same');
    const img = await dockerArchive([l1, l1], { symlinkLast: true });
    const { summary } = await rewrite(img.archive);
    assert.equal(summary.status, 'fulfilled', String((summary as PromiseRejectedResult).reason));
  });

  it('accepts a gzip-compressed archive', async () => {
    const img = await dockerArchive([await layerTar('x', 'y')]);
    const { out, summary } = await rewrite(gzipSync(img.archive));
    assert.equal(summary.status, 'fulfilled', String((summary as PromiseRejectedResult).reason));
    assert.equal((summary as PromiseFulfilledResult<{ gzipped: boolean }>).value.gzipped, true);
    assert.ok((await readTar((out as PromiseFulfilledResult<Buffer>).value)).some((e) => e.name === 'manifest.json'));
  });
});

describe('glance-bridge archive: rejected archives', () => {
  it('an entry with ../ that escapes', async () => {
    await rejects(await withExtra([{ name: '../../etc/cron.d/evil', data: 'x' }]), /leaves the archive/);
  });
  it('an entry with an absolute path', async () => {
    await rejects(await withExtra([{ name: '/etc/passwd', data: 'x' }]), /absolute path/);
  });
  it('a symlink that escapes, and one with an absolute target', async () => {
    await rejects(await withExtra([{ name: 'evil', type: 'symlink', linkname: '../../../etc' }]), /symlink "evil" points outside the archive/);
    await rejects(await withExtra([{ name: 'evil', type: 'symlink', linkname: '/etc/shadow' }]), /absolute target/);
  });
  it('an entry written through a symlinked directory', async () => {
    await rejects(await withExtra([{ name: 'd', type: 'directory' }, { name: 'd/up', type: 'symlink', linkname: '..' }, { name: 'd/up/x', data: 'x' }]), /lies below symlink "d\/up"/);
  });
  it('a hard link out of the archive or to nothing', async () => {
    await rejects(await withExtra([{ name: 'h', type: 'link', linkname: '../outside' }]), /hard link "h" points outside/);
    await rejects(await withExtra([{ name: 'h', type: 'link', linkname: 'missing' }]), /not a file before it/);
  });
  it('device and fifo entries', async () => {
    await rejects(await withExtra([{ name: 'dev', type: 'character-device' }]), /is a character-device/);
    await rejects(await withExtra([{ name: 'p', type: 'fifo' }]), /is a fifo/);
  });
  it('data that is not a tar', async () => {
    await rejects(randomBytes(64 * 1024), /not a \(complete\) tar archive/);
    await rejects(Buffer.from('this is not a tar at all'), /not a \(complete\) tar archive/);
  });
  it('an empty upload', async () => {
    await rejects(Buffer.alloc(0), /empty/);
  });
  it('a tar that is not an image (no manifest.json / index.json)', async () => {
    const tar = await makeTar([{ name: 'bin/', type: 'directory' }, { name: 'bin/busybox', data: 'ELF' }]);
    await rejects(tar, /neither manifest\.json \(docker save\) nor index\.json/);
  });
  it('a manifest naming a layer the archive lacks', async () => {
    const cfg = JSON.stringify({ os: 'linux', rootfs: { type: 'layers', diff_ids: ['sha256:00'] } });
    const tar = await makeTar([{ name: 'c.json', data: cfg }, { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', Layers: ['nope/layer.tar'] }]) }]);
    await rejects(tar, /layer "nope\/layer\.tar" is not in the archive/);
  });
  it('two images in one archive', async () => {
    const tar = await makeTar([{ name: 'manifest.json', data: JSON.stringify([{ Config: 'a', Layers: [] }, { Config: 'b', Layers: [] }]) }]);
    await rejects(tar, /lists 2 images/);
  });
  it('duplicate entries', async () => {
    await rejects(await withExtra([{ name: 'x', data: '1' }, { name: 'x', data: '2' }]), /appears twice/);
  });
  it('a layer file that is not the tar of the diff id its config names (an engine would take a cached layer of that id unread)', async () => {
    const l1 = await layerTar('a.txt', 'a');
    const other = await layerTar('b.txt', 'b');
    await rejects((await dockerArchive([l1], { digestNames: true, replace: new Map([[0, Buffer.alloc(0)]]) })).archive, /layer 0 is not the tar of sha256:[0-9a-f]{64}, the diff id the image config names for it/);
    await rejects((await dockerArchive([l1], { digestNames: true, replace: new Map([[0, gzipSync(other)]]) })).archive, /layer 0 is not the tar of/);
    const gz = await rewrite((await dockerArchive([l1], { digestNames: true, replace: new Map([[0, gzipSync(l1)]]) })).archive);
    assert.equal(gz.summary.status, 'fulfilled', 'a gzip layer that decompresses to its diff id passes');
  });

  it('a truncated archive', async () => {
    const img = await dockerArchive([await layerTar('x', 'y'.repeat(5000))]);
    await rejects(img.archive.subarray(0, 3000), /not a \(complete\) tar archive/);
  });
});

describe('glance-bridge archive: OCI image layout -> docker archive', () => {
  it('streams the blobs through and writes a docker manifest.json from index/manifest/config', async () => {
    const l1 = await layerTar('bin/busybox', 'BB');
    const l2 = await layerTar('etc/hostname', 'h');
    const img = await ociArchive([l1, l2]);
    const { out, summary } = await rewrite(img.archive);
    assert.equal(summary.status, 'fulfilled', String((summary as PromiseRejectedResult).reason));
    const s = (summary as PromiseFulfilledResult<{ format: string; imageId: string; layerPaths: string[] }>).value;
    assert.equal(s.format, 'oci-layout');
    assert.equal(s.imageId, img.configDigest);
    const entries = await readTar((out as PromiseFulfilledResult<Buffer>).value);
    const manifest = JSON.parse(entries.find((e) => e.name === 'manifest.json')!.data.toString());
    assert.equal(manifest.length, 1);
    assert.equal(manifest[0].Config, `blobs/sha256/${img.configDigest.slice(7)}`);
    assert.equal(manifest[0].RepoTags, null);
    assert.equal(manifest[0].Layers.length, 2);
    assert.ok(!entries.some((e) => e.name === 'index.json' || e.name === 'oci-layout'), 'the OCI documents are not passed on');
    for (const [digest, data] of img.blobs) {
      const e = entries.find((x) => x.name === `blobs/sha256/${digest}`);
      assert.ok(e && e.data.equals(data), `blob ${digest} passed unchanged`);
    }
    // The layers stay gzip; docker load decompresses them and checks them against diff_ids.
    const { gunzipSync } = await import('node:zlib');
    const layerData = manifest[0].Layers.map((p: string) => gunzipSync(entries.find((e) => e.name === p)!.data));
    assert.deepEqual(layerData.map((b: Buffer) => `sha256:${sha256(b)}`), img.diffIds);
  });

  it('picks this platform from a nested multi-platform index', async () => {
    const img = await ociArchive([await layerTar('x', 'y')], { nestedIndex: true });
    const { summary } = await rewrite(img.archive, { platform: { os: 'linux', architecture: 'amd64' } });
    assert.equal(summary.status, 'fulfilled', String((summary as PromiseRejectedResult).reason));
    assert.equal((summary as PromiseFulfilledResult<{ imageId: string }>).value.imageId, img.configDigest);
    const other = await rewrite(img.archive, { platform: { os: 'linux', architecture: 's390x' } });
    assert.match(String((other.summary as PromiseRejectedResult).reason), /no image manifest for s390x/);
  });

  it('rejects a blob whose content does not match its digest', async () => {
    const img = await ociArchive([await layerTar('x', 'y')], { corruptBlob: true });
    await rejects(img.archive, /does not match its digest/);
  });
});

describe('glance-bridge verification holds back the end', () => {
  it('passes data through and ends when size and hashes match', async () => {
    const data = randomBytes(100_000);
    const v = new VerifyingStream('img', { size: data.length, hashAlgo: 'sha512', hashValue: sha512(data) });
    const out = await collect(chunked(data).pipe(v));
    assert.ok(out.equals(data));
  });

  it('errors instead of ending on a hash mismatch, after passing the bytes', async () => {
    const data = randomBytes(50_000);
    const v = new VerifyingStream('img', { hashAlgo: 'sha512', hashValue: sha512('other') });
    let seen = 0;
    let ended = false;
    v.on('data', (c: Buffer) => { seen += c.length; });
    v.on('end', () => { ended = true; });
    const err = await new Promise<Error>((resolve) => { v.on('error', resolve); chunked(data).pipe(v); });
    assert.ok(err instanceof ImageVerificationFailed);
    assert.match(err.message, /Image img failed verification: sha512 \(os_hash_value\) is [0-9a-f]{128}, Glance recorded/);
    assert.equal(seen, data.length);
    assert.equal(ended, false);
  });

  it('checks md5 and size too', async () => {
    const data = Buffer.from('abc');
    const bad = new VerifyingStream('img', { md5: '0'.repeat(32) });
    await assert.rejects(collect(Readable.from([data]).pipe(bad)), /md5 checksum is 900150983cd24fb0d6963f7d28e17f72/);
    const short = new VerifyingStream('img', { size: 4, md5: '900150983cd24fb0d6963f7d28e17f72' });
    await assert.rejects(collect(Readable.from([data]).pipe(short)), /size is 3 bytes, Glance recorded 4 bytes/);
    const long = new VerifyingStream('img', { size: 2 });
    await assert.rejects(collect(Readable.from([data]).pipe(long)), /more than 2 bytes/);
  });

  it('a mismatch leaves the engine a tar without its end: nothing can be loaded from it', async () => {
    const img = await dockerArchive([await layerTar('bin/busybox', 'x'.repeat(20_000))]);
    const v = new VerifyingStream('img-1', { hashAlgo: 'sha512', hashValue: sha512('not this') });
    pipeline(chunked(img.archive, 2048), v, () => undefined);
    const r = rewriteImageArchive(v, { imageId: 'img-1' });
    const received: Buffer[] = [];
    let ended = false;
    r.output.on('data', (c: Buffer) => received.push(c));
    r.output.on('end', () => { ended = true; });
    const outErr = await new Promise<Error>((resolve) => r.output.on('error', resolve));
    await assert.rejects(r.summary, ImageVerificationFailed);
    assert.ok(outErr instanceof ImageVerificationFailed);
    assert.equal(ended, false, 'the output errored instead of ending');
    const got = Buffer.concat(received);
    assert.ok(got.length > 10_000, 'layer bytes were streamed before the end');
    assert.ok(!got.subarray(-1024).equals(Buffer.alloc(1024)), 'no end-of-archive blocks were written');
    const names = (await readTar(got)).map((e) => e.name);
    assert.ok(!names.includes('manifest.json'), 'no manifest.json reached the engine');
    assert.ok(!names.some((n) => /\/json$/.test(n)), 'nor legacy v1 json files a legacy load could use');
  });
});
