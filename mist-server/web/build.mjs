// Builds the web player into dist/, which mist-server embeds at compile time
// (mist-server/src/http/web.rs), so `cargo build` needs no Node:
//
//   npm ci && npm run build            rebuild dist/ after changing src/
//   node build.mjs --check             fail if dist/ differs from a fresh build
//
// Output names are fixed (index.html, assets/app.js, assets/app.css,
// assets/icon.svg) because the Rust side names them in include_bytes!; the
// server sends ETags so browsers revalidate instead of caching stale code.
import { mkdtemp, mkdir, readFile, readdir, rm, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));

async function build(out) {
  await rm(out, { recursive: true, force: true });
  await mkdir(join(out, 'assets'), { recursive: true });
  await esbuild.build({
    entryPoints: { app: join(root, 'src/main.js') },
    bundle: true,
    format: 'esm',
    target: 'es2020',
    minify: true,
    legalComments: 'eof',
    outdir: join(out, 'assets'),
    logLevel: 'warning',
  });
  await copyFile(join(root, 'index.html'), join(out, 'index.html'));
  await copyFile(join(root, 'public/icon.svg'), join(out, 'assets/icon.svg'));
}

async function files(dir, prefix = '') {
  const found = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const name = prefix + entry.name;
    if (entry.isDirectory()) found.push(...(await files(join(dir, entry.name), name + '/')));
    else found.push(name);
  }
  return found.sort();
}

async function check() {
  const fresh = await mkdtemp(join(tmpdir(), 'mist-web-'));
  try {
    await build(fresh);
    const dist = join(root, 'dist');
    const [want, have] = [await files(fresh), await files(dist).catch(() => [])];
    const stale = want.filter((f) => !have.includes(f));
    for (const f of want.filter((f) => have.includes(f))) {
      const [a, b] = [await readFile(join(fresh, f)), await readFile(join(dist, f))];
      if (!a.equals(b)) stale.push(f);
    }
    stale.push(...have.filter((f) => !want.includes(f)));
    if (stale.length) {
      console.error(`mist-server/web/dist is out of date (${stale.join(', ')}): run \`npm run build\` in mist-server/web`);
      process.exit(1);
    }
    console.log('dist/ matches a fresh build');
  } finally {
    await rm(fresh, { recursive: true, force: true });
  }
}

if (process.argv.includes('--check')) await check();
else await build(join(root, 'dist'));
