// Runs informers of the official Kubernetes JavaScript client over Ingress and EndpointSlice
// against the server named by the kubeconfig in $KUBECONFIG. Prints one JSON object per line:
//   {"kind":"event","informer":"ingresses","verb":"add","ns":..,"name":..,"rv":..}
//   {"kind":"connect","informer":..} / {"kind":"error","informer":..,"message":..}
//   {"kind":"dump","caches":{"ingresses":[...],"endpointslices":[...]}}   (on "dump" from stdin)
// An informer that reports an error is restarted after a short delay (the usual pattern: the
// client library stops an informer on errors other than 410).
import * as k8s from '@kubernetes/client-node';
import { createInterface } from 'node:readline';

const kc = new k8s.KubeConfig();
kc.loadFromFile(process.env.KUBECONFIG);
const net = kc.makeApiClient(k8s.NetworkingV1Api);
const disc = kc.makeApiClient(k8s.DiscoveryV1Api);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function summary(obj) {
  return {
    ns: obj.metadata.namespace,
    name: obj.metadata.name,
    rv: obj.metadata.resourceVersion,
    uid: obj.metadata.uid,
  };
}

const informers = {
  ingresses: k8s.makeInformer(kc, '/apis/networking.k8s.io/v1/ingresses',
    () => net.listIngressForAllNamespaces()),
  endpointslices: k8s.makeInformer(kc, '/apis/discovery.k8s.io/v1/endpointslices',
    () => disc.listEndpointSliceForAllNamespaces()),
};

const restartDelayMs = Number(process.env.RESTART_DELAY_MS || 300);
let stopping = false;

for (const [name, informer] of Object.entries(informers)) {
  for (const verb of ['add', 'update', 'delete']) {
    informer.on(verb, (obj) => out({ kind: 'event', informer: name, verb, ...summary(obj) }));
  }
  informer.on('connect', () => out({ kind: 'connect', informer: name }));
  informer.on('error', (err) => {
    out({
      kind: 'error', informer: name,
      message: String(err && (err.message || err.code || err)),
      statusCode: err && (err.statusCode || err.code) || null,
    });
    if (!stopping) {
      setTimeout(() => {
        informer.start().catch((e) => out({ kind: 'error', informer: name, message: String(e) }));
      }, restartDelayMs);
    }
  });
}

function dump() {
  const caches = {};
  for (const [name, informer] of Object.entries(informers)) {
    caches[name] = informer.list().map((obj) => {
      const s = summary(obj);
      if (name === 'ingresses') {
        s.hosts = (obj.spec.rules || []).map((r) => r.host);
      } else {
        s.addresses = (obj.endpoints || []).flatMap((e) => e.addresses);
      }
      return s;
    }).sort((a, b) => `${a.ns}/${a.name}`.localeCompare(`${b.ns}/${b.name}`));
  }
  out({ kind: 'dump', caches });
}

createInterface({ input: process.stdin }).on('line', async (line) => {
  const cmd = line.trim();
  if (cmd === 'dump') {
    dump();
  } else if (cmd === 'quit') {
    stopping = true;
    await Promise.all(Object.values(informers).map((i) => i.stop()));
    out({ kind: 'bye' });
    process.exit(0);
  }
});

for (const [name, informer] of Object.entries(informers)) {
  informer.start().then(
    () => out({ kind: 'started', informer: name }),
    (err) => out({ kind: 'error', informer: name, message: String(err) }));
}
