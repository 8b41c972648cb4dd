import type { MessageKey, Translate } from '../i18n/index.ts';

/**
 * Starting manifests for the Apply page. Each one applies as it is on a
 * fresh `gedge up` (sites cloud, edge-a, edge-b): the field names follow
 * core/workload-schema.ts, core/device-schema.ts and core/rule-schema.ts.
 * Only the leading comment is translated; YAML keys are the API's.
 */
export interface Template {
  id: string;
  name: MessageKey;
  text: (t: Translate) => string;
}

export const TEMPLATES: Template[] = [
  {
    id: 'process',
    name: 'apply.template.process',
    text: (t) => `# ${t('apply.template.process.about')}
apiVersion: gedge.io/v1
kind: Service
metadata:
  name: ticker
  labels:
    app: ticker
spec:
  replicas: 2
  placement:
    tiers: [edge]
  template:
    command: [node, -e, "setInterval(() => console.log('tick', new Date().toISOString()), 1000)"]
    resources:
      cpu: 0.05
      memoryMiB: 32
`,
  },
  {
    id: 'container',
    name: 'apply.template.container',
    text: (t) => `# ${t('apply.template.container.about')}
apiVersion: gedge.io/v1
kind: Service
metadata:
  name: web
spec:
  replicas: 1
  placement:
    tiers: [edge]
  template:
    runtime: container
    image: docker.io/library/nginx:1.27-alpine
    ports:
      - name: http
        containerPort: 80
    readiness:
      http: { port: http, path: / }
    resources:
      cpu: 0.25
      memoryMiB: 64
`,
  },
  {
    id: 'device',
    name: 'apply.template.device',
    text: (t) => `# ${t('apply.template.device.about')}
apiVersion: gedge.io/v1
kind: Device
metadata:
  name: sensor-1
  labels:
    type: thermometer
spec:
  site: edge-a
  description: Thermometer in hall 1
  grants:
    publish: ["sensors/+/temp"]
  twin:
    desired: { intervalMs: 1000 }
`,
  },
  {
    id: 'rule',
    name: 'apply.template.rule',
    text: (t) => `# ${t('apply.template.rule.about')}
apiVersion: gedge.io/v1
kind: Rule
metadata:
  name: hot-sensors
spec:
  sql: |
    SELECT topic(2) AS sensor, avg(temp) AS temp
    FROM "sensors/+/temp"
    GROUP BY topic(2), TUMBLING(10s)
    HAVING avg(temp) > 30
  actions:
    - mqtt: { topic: "alerts/{{sensor}}", qos: 1, payload: '{"temp":{{temp}}}' }
    - log: { level: warn }
  target:
    tiers: [edge]
`,
  },
];
