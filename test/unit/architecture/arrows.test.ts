/**
 * The arrows between the folders point one way (README "Layout"): src/messaging is a module
 * of its own (nothing from the compute service or its configuration); the manager's handlers
 * reach instances only through the driver contract (nothing from src/runtime); the engines,
 * pluggers and images know nothing of Nova (from src/nova-driver only the contract itself).
 * Reads the TypeScript sources, so a type-only import counts too.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url)); // dist/test/unit/architecture -> repository

/** Folder -> what its files may not import (a prefix), except the allowed files. */
const RULES: { from: string; forbidden: string[]; allowed?: string[] }[] = [
  { from: 'src/messaging', forbidden: ['src/nova-driver', 'src/config'] },
  { from: 'src/nova-driver/manager', forbidden: ['src/runtime'] },
  { from: 'src/runtime', forbidden: ['src/nova-driver', 'src/config'], allowed: ['src/nova-driver/instance-driver.ts'] },
  { from: 'src/network', forbidden: ['src/nova-driver', 'src/runtime', 'src/config'] },
  { from: 'src/glance-bridge', forbidden: ['src/nova-driver'] },
];

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
function forbiddenImports(file: string, source: string, forbidden: string[], allowed: string[] = []): string[] {
  return importSpecifiers(source).filter((spec) => {
    if (!spec.startsWith('.')) return false;
    const target = relative(ROOT, resolve(dirname(file), spec)).split('\\').join('/').replace(/\.js$/, '.ts');
    if (allowed.includes(target)) return false;
    return forbidden.some((f) => target === f || target.startsWith(`${f}/`));
  }).map((spec) => `${relative(ROOT, file)}: ${spec}`);
}

describe('architecture: the arrows between the folders point one way', () => {
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
    const file = join(ROOT, 'src', 'messaging', 'example.ts');
    assert.deepEqual(forbiddenImports(file, sample, ['src/nova-driver', 'src/config']).map((l) => l.split(': ')[1]), [
      '../config/types.js', '../nova-driver/errors.js', '../nova-driver/context.js', '../nova-driver/side-effect.js', '../config/load.js',
    ]);
  });

  it('lets an allowed file through and nothing else of its folder', () => {
    const file = join(ROOT, 'src', 'runtime', 'example.ts');
    const sample = "import type { InstanceDriver } from '../nova-driver/instance-driver.js';\nimport { NovaObject } from '../nova-driver/objects/versioned-object.js';";
    assert.deepEqual(forbiddenImports(file, sample, ['src/nova-driver'], ['src/nova-driver/instance-driver.ts']).map((l) => l.split(': ')[1]),
      ['../nova-driver/objects/versioned-object.js']);
  });

  for (const rule of RULES) {
    it(`${rule.from} imports nothing from ${rule.forbidden.join(', ')}${rule.allowed ? ` but ${rule.allowed.join(', ')}` : ''}`, () => {
      const files = sourceFiles(join(ROOT, rule.from));
      assert.ok(files.length >= 3, `only ${files.length} files found under ${rule.from}`);
      const bad = files.flatMap((f) => forbiddenImports(f, readFileSync(f, 'utf8'), rule.forbidden, rule.allowed));
      assert.deepEqual(bad, []);
    });
  }
});
