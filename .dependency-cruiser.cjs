/** Dependencies point one way (STYLE.md): everything may use core; center and agent never import each other; cli talks to the center only through the API client. */
module.exports = {
  forbidden: [
    { name: 'core-is-the-base', severity: 'error', from: { path: '^core/' }, to: { path: '^(scheduler|broker|inference|training|center|agent|cli|testkit|bench|dashboard)/' } },
    { name: 'core-below-the-engine', severity: 'error', comment: 'the engine builds on core (topics); the center\'s manifest worker, not the Rule schema, compiles a rule\'s SQL', from: { path: '^core/' }, to: { path: '^engine/' } },
    { name: 'engine-is-pure', severity: 'error', comment: 'the rule engine is pure logic; the agent feeds it and runs its actions', from: { path: '^engine/' }, to: { path: '^(scheduler|center|agent|cli|testkit|bench|dashboard)/|^core/(?!topics\\.ts$)' } },
    { name: 'scheduler-is-pure', severity: 'error', comment: 'the scheduler is pure logic over core types; the center feeds it', from: { path: '^scheduler/' }, to: { path: '^(center|agent|cli|testkit|bench|dashboard)/' } },
    { name: 'broker-is-a-part', severity: 'error', comment: 'the edge MQTT broker builds on core alone; the agent gives it its device directory, hooks, listen addresses and data dir', from: { path: '^broker/' }, to: { path: '^(engine|scheduler|center|agent|cli|sim|bench|dashboard)/' } },
    { name: 'inference-is-a-part', severity: 'error', comment: 'the model server (Open Inference Protocol over ONNX Runtime) builds on core alone; the agent runs it as a workload', from: { path: '^inference/' }, to: { path: '^(engine|scheduler|broker|center|agent|cli|sim|bench|dashboard)/' } },
    { name: 'training-is-a-part', severity: 'error', comment: 'training and ONNX export (tfjs) build on core and the early-exit arithmetic (inference/early-exit.ts, pure: the exits\' temperatures are fitted with it); `gedge model train` runs them; its tests check the exported graphs in the model server\'s session', from: { path: '^training/', pathNot: '\\.test\\.ts$' }, to: { path: '^(engine|scheduler|broker|inference|center|agent|cli|sim|bench|dashboard)/', pathNot: '^inference/early-exit\\.ts$' } },
    { name: 'center-not-agent', severity: 'error', from: { path: '^center/' }, to: { path: '^(agent|broker|inference|training|cli)/' } },
    { name: 'agent-not-center', severity: 'error', from: { path: '^agent/' }, to: { path: '^(center|scheduler|cli)/' } },
    { name: 'cli-uses-the-api-client', severity: 'error', comment: 'the CLI may start a center, agent or model server process, but reads and writes state only through core/api-client', from: { path: '^cli/', pathNot: '^cli/commands/(processes|model-serve)\\.ts$' }, to: { path: '^(center|agent|broker|inference)/' } },
    { name: 'sim-uses-the-api-client', severity: 'error', comment: 'the simulators provision through core/api-client and talk MQTT to the edge brokers, like any outside program (the scenario\'s e2e test also drives the dashboard through its browser helper)', from: { path: '^sim/', pathNot: '\\.test\\.ts$' }, to: { path: '^(center|agent|broker|engine|scheduler|dashboard|cli)/' } },
    { name: 'services-free-of-http', severity: 'error', comment: 'the service layer (center/services, center/reports, uplink ingest) takes a caller identity and knows no transport: the routes and the agent hub adapt it', from: { path: '^center/(services|reports)/|^center/uplink/uplink-(service|module)\\.ts$' }, to: { path: '^center/(api|hub)/' } },
    { name: 'routes-through-services', severity: 'error', comment: 'routes (center/api, the uplink and dashboard routes) are handed services (center/services) and never see the store: routes -> services -> store', from: { path: '^center/api/|^center/(uplink|dashboard)/[^/]*routes\\.ts$', pathNot: '\\.test\\.ts$' }, to: { path: '^center/store/' } },
    { name: 'hub-sees-the-store-interface', severity: 'error', comment: 'the agents\' channel (center/hub) reaches the store only through its interface and change feed (a node\'s sync feed reads it), never an implementation or its migrations', from: { path: '^center/hub/', pathNot: '\\.test\\.ts$' }, to: { path: '^center/store/', pathNot: '^center/store/(store|change-feed)\\.ts$' } },
    { name: 'modules-only-through-their-contract', severity: 'error', comment: 'a process is its list of supervised modules (core/module.ts): only its composition root starts them (agent/agent.ts, center/center.ts); everything else reaches a module\'s parts through what it was handed (AgentParts, CenterParts, services)', from: { path: '^', pathNot: '^agent/agent\\.ts$|^center/center\\.ts$|\\.test\\.ts$' }, to: { path: '^agent/(modules|channel)\\.ts$|^center/modules\\.ts$' } },
    { name: 'no-test-code-in-product', severity: 'error', from: { path: '^(core|engine|scheduler|broker|inference|training|center|agent|cli|sim)/', pathNot: '\\.test\\.ts$|contract\\.ts$|test-helpers\\.ts$' }, to: { path: '^testkit/|\\.test\\.ts$' } },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'no-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Packages that publish only an `exports` map (aedes, @nats-io/*) resolve through it.
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
    exclude: { path: 'node_modules' },
  },
};
