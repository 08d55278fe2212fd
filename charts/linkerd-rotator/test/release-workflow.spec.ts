// The release workflow against the chart's contract: tagged releases build both app images for amd64
// and arm64 under the repositories the chart's values point at, and push the chart as an OCI artifact.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { chartDir, helmBinary, repoRoot } from './support/tools.js';

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
type Job = { needs?: string[]; permissions?: Record<string, string>; strategy?: { matrix: Record<string, string[]> }; steps: Step[] };
interface Workflow {
  on: { push: { tags: string[] } };
  permissions: Record<string, string>;
  env: Record<string, string>;
  jobs: Record<string, Job>;
}

const workflow = parse(readFileSync(path.join(repoRoot, '.github/workflows/release.yml'), 'utf8')) as Workflow;
const values = parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as Record<string, { image: { repository: string } }>;

describe('.github/workflows/release.yml', () => {
  it('runs on version tags with read-only default permissions', () => {
    expect(workflow.on.push.tags).toEqual(['v*.*.*']);
    expect(workflow.permissions).toEqual({ contents: 'read' });
  });

  it('builds each app from its Dockerfile for amd64 and arm64 into the repositories the chart uses', () => {
    const images = workflow.jobs['images']!;
    expect(images.needs).toContain('chart-tests');
    expect(images.permissions).toEqual({ contents: 'read', packages: 'write' });
    const apps = images.strategy!.matrix['app']!;
    expect(apps.sort()).toEqual(['rotation-runner', 'webhook']);
    for (const app of apps) expect(existsSync(path.join(repoRoot, 'apps', app, 'Dockerfile'))).toBe(true);
    const build = images.steps.find((s) => s.uses?.startsWith('docker/build-push-action'))!;
    expect(build.with).toMatchObject({ context: '.', file: 'apps/${{ matrix.app }}/Dockerfile', platforms: 'linux/amd64,linux/arm64', push: true });
    const meta = images.steps.find((s) => s.uses?.startsWith('docker/metadata-action'))!;
    const published = apps.map((app) => String(meta.with!['images']).replace('${{ env.IMAGE_PREFIX }}', workflow.env['IMAGE_PREFIX']!).replace('${{ matrix.app }}', app));
    expect(published.sort()).toEqual([values['runner']!.image.repository, values['webhook']!.image.repository].sort());
  });

  it('packages the chart at the tag version with the pinned helm and pushes it to an OCI registry', () => {
    const chart = workflow.jobs['chart']!;
    expect(chart.needs).toEqual(['version', 'images']);
    const buildScript = readFileSync(path.join(chartDir, 'tools/build.sh'), 'utf8');
    expect(buildScript).toContain(`helm_version=${workflow.env['HELM_VERSION']}`);
    const script = chart.steps.map((s) => s.run ?? '').join('\n');
    expect(script).toContain('helm package charts/linkerd-rotator --version "$VERSION" --app-version "$VERSION"');
    expect(script).toContain('helm push "dist/linkerd-rotator-$VERSION.tgz" "$CHART_REPOSITORY"');
    expect(workflow.env['CHART_REPOSITORY']).toMatch(/^oci:\/\//);
  });

  it('packages a chart without the test tree, the tool module or the jest project files', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'chart-package-'));
    try {
      execFileSync(helmBinary(), ['package', chartDir, '--version', '9.9.9', '--destination', out], { stdio: 'pipe' });
      const files = execFileSync('tar', ['tzf', path.join(out, 'linkerd-rotator-9.9.9.tgz')], { encoding: 'utf8' }).trim().split('\n');
      expect(files).toEqual(expect.arrayContaining(['linkerd-rotator/Chart.yaml', 'linkerd-rotator/values.schema.json', 'linkerd-rotator/templates/NOTES.txt', 'linkerd-rotator/files/dashboard.json']));
      expect(files.filter((f) => /\/(test|tools)\/|project\.json|jest\.config|tsconfig|eslint/.test(f))).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
