// The Grafana dashboard as the chart ships it: the ConfigMap the Grafana sidecar picks up holds exactly
// files/dashboard.json (the file the webhook's exporter-dashboard spec checks against the registry).
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { only, render } from './support/render.js';
import { chartDir, repoRoot } from './support/tools.js';

const file = path.join(chartDir, 'files/dashboard.json');

describe('the dashboard ConfigMap', () => {
  it('carries files/dashboard.json unchanged, labelled for the Grafana sidecar, where the values say', () => {
    const objects = render({ monitoring: { dashboard: { enabled: true, namespace: 'grafana', labels: { grafana_dashboard: '1', team: 'mesh' }, annotations: { grafana_folder: 'Linkerd' } } } });
    const cm = only(objects, 'ConfigMap', 'rot-linkerd-rotator-dashboard');
    expect(cm.metadata.namespace).toBe('grafana');
    expect(cm.metadata.labels).toMatchObject({ grafana_dashboard: '1', team: 'mesh' });
    expect(cm.metadata.annotations).toMatchObject({ grafana_folder: 'Linkerd' });
    const shipped = (cm['data'] as Record<string, string>)['linkerd-rotator.json']!;
    expect(JSON.parse(shipped)).toEqual(JSON.parse(readFileSync(file, 'utf8')));
  });

  it('is the same file as docs/dashboard.json (a link, so the two cannot drift)', () => {
    expect(realpathSync(path.join(repoRoot, 'docs/dashboard.json'))).toBe(realpathSync(file));
  });
});
