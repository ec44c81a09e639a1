// Pod (core/v1): the row of the resource table, its schema and columns.
// weft records pods on its network (no kubelet runs them): the schema
// names what weft and `kubectl get pods -o wide` use and keeps the rest of
// a container open.

import { isObject, type KubeObject } from "../object.ts";
import {
  arr,
  bool,
  CORE,
  int,
  obj,
  open,
  ref,
  type Schema,
  str,
  strMap,
  time,
} from "../openapi/schema.ts";
import type { ResourceDef } from "../resources.ts";
import { age, col, get, list, type Printer, str as cell } from "../table.ts";

const NAME = `${CORE}.Pod`;

const containerPort = obj(
  {
    name: str(),
    containerPort: int("The port number in the container."),
    hostPort: int("The port on the node mapped to it (CNI portmap)."),
    hostIP: str(),
    protocol: str("TCP, UDP or SCTP."),
  },
  "A port of a container.",
  ["containerPort"],
);

const definitions: Record<string, Schema> = {
  [NAME]: obj({
    spec: ref(`${CORE}.PodSpec`, "The pod's desired state."),
    status: ref(`${CORE}.PodStatus`, "The pod's observed state."),
  }, "A pod: one or more containers sharing a network namespace."),
  [`${CORE}.PodSpec`]: {
    ...obj({
      nodeName: str("The node the pod runs on."),
      containers: arr(
        ref(`${CORE}.Container`),
        "The pod's containers.",
        "name",
      ),
      initContainers: arr(
        ref(`${CORE}.Container`),
        "Containers run before the others.",
        "name",
      ),
      hostNetwork: bool("The pod uses the node's network namespace."),
      restartPolicy: str(),
      schedulerName: str(),
      serviceAccountName: str(),
      nodeSelector: strMap(),
      volumes: arr(open("A volume."), "Volumes of the pod.", "name"),
    }, "The pod's desired state."),
    "x-kubernetes-preserve-unknown-fields": true,
  },
  [`${CORE}.Container`]: {
    ...obj(
      {
        name: str("The container's name, unique in the pod."),
        image: str(),
        command: arr(str()),
        args: arr(str()),
        ports: arr(
          containerPort,
          "Ports the container exposes.",
          "containerPort",
        ),
        env: arr(open("An environment variable."), "Environment.", "name"),
        volumeMounts: arr(open("A mount."), "Mounts.", "mountPath"),
      },
      "A container of the pod.",
      ["name"],
    ),
    "x-kubernetes-preserve-unknown-fields": true,
  },
  [`${CORE}.PodStatus`]: {
    ...obj({
      phase: str("Pending, Running, Succeeded, Failed or Unknown."),
      podIP: str("The pod's IP address (the first of podIPs)."),
      podIPs: arr(
        obj({ ip: str() }, "An IP address of the pod."),
        "The pod's IP addresses, at most one per IP family.",
        "ip",
      ),
      hostIP: str("The IP address of the pod's node."),
      conditions: arr(open("A condition."), "The pod's conditions.", "type"),
      containerStatuses: arr(open("A container's status.")),
      startTime: time(),
      reason: str(),
      message: str(),
    }, "The pod's observed state."),
    "x-kubernetes-preserve-unknown-fields": true,
  },
};

function podCells(p: KubeObject, now: number) {
  const containers = list(p, "spec.containers");
  const statuses = list(p, "status.containerStatuses");
  const ready = statuses.filter((s) => isObject(s) && s.ready === true).length;
  const restarts = statuses.reduce<number>(
    (n, s) =>
      n +
      (isObject(s) && typeof s.restartCount === "number" ? s.restartCount : 0),
    0,
  );
  const status = p.metadata.deletionTimestamp
    ? "Terminating"
    : cell(get(p, "status.reason"), cell(get(p, "status.phase"), "Pending"));
  return [
    p.metadata.name ?? "",
    `${ready}/${containers.length}`,
    status,
    restarts,
    age(p, now),
    cell(get(p, "status.podIP")),
    cell(get(p, "spec.nodeName")),
  ];
}

const printer: Printer = {
  columns: [
    col("Name", "Name must be unique within a namespace.", 0, "string", "name"),
    col("Ready", "The aggregate readiness state of this pod."),
    col("Status", "The aggregate status of the containers in this pod."),
    col("Restarts", "The number of times the containers have restarted.", 0),
    col("Age", "CreationTimestamp of the object."),
    col("IP", "IP address assigned to the pod.", 1),
    col("Node", "Name of the node the pod is assigned to.", 1),
  ],
  cells: podCells,
};

export const PODS: ResourceDef = {
  group: "",
  version: "v1",
  plural: "pods",
  singular: "pod",
  kind: "Pod",
  namespaced: true,
  shortNames: ["po"],
  categories: ["all"],
  prefix: "/registry/pods/",
  status: true,
  fields: [
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
  ],
  nodeAccess: "bound",
  schema: { name: NAME, definitions },
  printer,
  prepare(pod, old) {
    if (!old) pod.status = { phase: "Pending", ...pod.status };
  },
};
