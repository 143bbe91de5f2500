// The module tables of the docs against the tree: every folder of src/ is a module, listed in
// README.md's layout table and in docs/design.md's module table, and the "uses" column of
// docs/design.md is exactly the DEPS that src/CMakeLists.txt (and the module.cmake files it
// includes) give the module. Docs that drift from the build fail here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './lib.mjs';

const SRC = path.join(REPO, 'src');
const modules = fs.readdirSync(SRC, { withFileTypes: true })
  .filter((d) => d.isDirectory()).map((d) => d.name).sort();

// tg_add_module(NAME ... DEPS a b c LIBS ...) -> NAME -> [a, b, c]
function cmakeDeps() {
  const files = [path.join(SRC, 'CMakeLists.txt'),
    ...modules.map((m) => path.join(SRC, m, 'module.cmake')).filter((f) => fs.existsSync(f))];
  const deps = {};
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8').replace(/#[^\n]*/g, '');
    for (const m of text.matchAll(/tg_add_module\(\s*(\w+)([^)]*)\)/g)) {
      const words = m[2].split(/\s+/).filter(Boolean);
      const at = words.indexOf('DEPS');
      const list = [];
      for (let i = at + 1; at >= 0 && i < words.length && !/^[A-Z]+$/.test(words[i]); i++) list.push(words[i]);
      deps[m[1]] = list.sort();
    }
  }
  return deps;
}

// The rows of the first markdown table after `heading` whose first cell is `name` or
// `src/name`: name -> cells.
function tableRows(file, heading) {
  const text = fs.readFileSync(path.join(REPO, file), 'utf8');
  const from = text.indexOf(heading);
  assert.ok(from >= 0, `${file} has no "${heading}"`);
  const rows = {};
  let seen = false;
  for (const line of text.slice(from).split('\n').slice(1)) {
    if (!line.startsWith('|')) {
      if (seen) break;
      continue;
    }
    seen = true;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const name = cells[0].replace(/`/g, '').replace(/^src\//, '');
    rows[name] = cells;
  }
  return rows;
}

test('every src/ folder is a module of the build', () => {
  const deps = cmakeDeps();
  assert.deepEqual(Object.keys(deps).sort(), modules);
});

test('README.md layout table lists every module', () => {
  const rows = tableRows('README.md', '## Layout');
  for (const m of modules) assert.ok(rows[m], `README.md layout table lacks src/${m}`);
});

test("docs/design.md module table lists every module with the build's dependencies", () => {
  const rows = tableRows('docs/design.md', '## Modules');
  const deps = cmakeDeps();
  for (const m of modules) {
    assert.ok(rows[m], `docs/design.md module table lacks ${m}`);
    const uses = rows[m][2];
    if (uses === 'all') continue;
    const listed = uses === '–' ? [] : uses.split(',').map((s) => s.trim()).sort();
    assert.deepEqual(listed, deps[m], `docs/design.md: ${m} uses ${listed.join(', ')}; CMake DEPS: ${deps[m].join(', ')}`);
  }
  for (const name of Object.keys(rows)) {
    if (name === 'module' || /^-+$/.test(name)) continue;
    assert.ok(modules.includes(name), `docs/design.md lists ${name}, which is no folder of src/`);
  }
});
