// How an app is bundled to run with plain node: both Dockerfiles (the runner; the webhook and the
// exporter), the benchmarks and the integration tests run this. esbuild bundles the app and
// the workspace libs; production dependencies stay in node_modules, except those INLINED: every
// app bundles @kubernetes/client-node, whose index loads every generated API and model (27 MB of
// JavaScript, about 20-35 MiB of each process's RSS); bundled, esbuild keeps what the app reaches
// (about 4 MB). The inlined package's own dependencies (undici, openid-client, ...) stay
// external, and those of its imports the bundle no longer uses (tar-fs of `cp`, ...) are dropped.
//   node scripts/bundle-app.mjs <app> <outfile>   (from the repository root; writes a source map)
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

// The repository root; BUNDLE_APP_ROOT points it at a test fixture (charts/linkerd-rotator/test/dockerfiles.spec.ts).
const root = process.env.BUNDLE_APP_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The apps this script bundles (apps/<app>/src/main.ts). */
const APPS = ['webhook', 'exporter', 'rotation-runner'];
/** Packages bundled into every app instead of loaded from node_modules. */
const INLINED = ['@kubernetes/client-node'];

const isBare = (specifier) => !specifier.startsWith('.') && !path.isAbsolute(specifier) && !specifier.startsWith('node:');
const packageOf = (specifier) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

/**
 * Resolves the inlined packages to their files and keeps the bare imports of those files external.
 * Such an import is resolved from the app's node_modules at run time, so a copy nested under the
 * inlined package (another version than the hoisted one) would be skipped: refuse to build then.
 */
const INLINING = Symbol('inlining');

function inline(packages) {
  // node_modules may be a symlink; esbuild names importers by their real path.
  const dirs = packages.map((p) => [p, realpathSync(path.join(root, 'node_modules', p)) + path.sep]);
  return {
    name: 'inline-packages',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (!isBare(args.path) || args.pluginData === INLINING) return undefined;
        const name = packageOf(args.path);
        if (packages.includes(name)) {
          // esbuild's own resolution (the package's exports or main), marked so it does not come back here.
          const resolved = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: INLINING });
          if (resolved.errors.length > 0) return { errors: resolved.errors };
          return { path: resolved.path };
        }
        const from = dirs.find(([, dir]) => args.importer.startsWith(dir))?.[0];
        if (from === undefined) return undefined;
        if (existsSync(path.join(root, 'node_modules', from, 'node_modules', name, 'package.json'))) {
          throw new Error(`${from} has its own copy of ${name}, which a bundle that keeps ${name} external would not load; inline ${name} too or align the versions`);
        }
        // Without side effects, so an import the bundle no longer uses is dropped.
        return { path: args.path, external: true, sideEffects: false };
      });
    },
  };
}

/** Bundles apps/<app>/src/main.ts into `outfile` as the image runs it (ESM, Node 24, with a source map). */
async function bundleApp(app, outfile) {
  if (!APPS.includes(app)) throw new Error(`unknown app ${app}: expected one of ${APPS.join(', ')}`);
  const dependencies = Object.keys(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).dependencies);
  const missing = INLINED.filter((p) => !existsSync(path.join(root, 'node_modules', p, 'package.json')));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} not installed under ${root}/node_modules: run npm ci first`);
  await build({
    entryPoints: [path.join(root, `apps/${app}/src/main.ts`)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    tsconfig: path.join(root, `apps/${app}/tsconfig.json`),
    sourcemap: true,
    outfile,
    external: dependencies.filter((d) => !INLINED.includes(d)),
    plugins: [inline(INLINED)],
    logLevel: 'warning',
  });
  return outfile;
}

const [app, outfile] = process.argv.slice(2);
if (!app || !outfile || process.argv.length > 4) {
  process.stderr.write(`usage: node scripts/bundle-app.mjs <${APPS.join('|')}> <outfile>\n`);
  process.exit(2);
}
bundleApp(app, path.resolve(outfile)).catch((err) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
