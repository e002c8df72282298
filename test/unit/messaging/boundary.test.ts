/**
 * src/messaging is a module of its own: none of its files may import from the compute
 * service (src/nova-driver) or from its configuration (src/config). Reads the TypeScript
 * sources, so a type-only import counts too.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url)); // dist/test/unit/messaging -> repository
const MESSAGING = join(ROOT, 'src', 'messaging');
const FORBIDDEN = ['src/nova-driver', 'src/config'];

/** Every module specifier of `import ... from`, `export ... from`, `import '...'` and `import('...')`. */
function importSpecifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** `file: specifier` for every import of `file` that lands under a forbidden folder. */
function forbiddenImports(file: string, source: string): string[] {
  return importSpecifiers(source).filter((spec) => {
    if (!spec.startsWith('.')) return false;
    const target = relative(ROOT, resolve(dirname(file), spec)).split('\\').join('/');
    return FORBIDDEN.some((f) => target === f || target.startsWith(`${f}/`));
  }).map((spec) => `${relative(ROOT, file)}: ${spec}`);
}

describe('messaging: a module of its own', () => {
  it('finds the imports of every kind, multi-line ones included', () => {
    const sample = [
      "import type { Config } from '../config/types.js';",
      "import {\n  NovaError,\n  InstanceNotFound,\n} from '../nova-driver/errors.js';",
      "export * from '../nova-driver/context.js';",
      "import '../nova-driver/side-effect.js';",
      "const m = await import('../config/load.js');",
      "import { Ajv } from 'ajv';",
      "import { pyJsonDumps } from './pyjson.js';",
    ].join('\n');
    const file = join(MESSAGING, 'example.ts');
    assert.deepEqual(forbiddenImports(file, sample).map((l) => l.split(': ')[1]), [
      '../config/types.js', '../nova-driver/errors.js', '../nova-driver/context.js', '../nova-driver/side-effect.js', '../config/load.js',
    ]);
  });

  it('has no file under src/messaging that imports from src/nova-driver or src/config', () => {
    const files = sourceFiles(MESSAGING);
    assert.ok(files.length >= 10, `only ${files.length} files found under ${MESSAGING}`);
    const bad = files.flatMap((f) => forbiddenImports(f, readFileSync(f, 'utf8')));
    assert.deepEqual(bad, []);
  });
});
