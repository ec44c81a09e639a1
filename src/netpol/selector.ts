// Label selector matching (matchLabels and matchExpressions), as
// metav1.LabelSelectorAsSelector evaluates it.

import type { LabelSelector, LabelSelectorRequirement } from "./types.ts";

function requirementHolds(
  r: LabelSelectorRequirement,
  labels: Record<string, string>,
): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.operator) {
    case "In":
      return has && (r.values ?? []).includes(labels[r.key]);
    case "NotIn":
      return !has || !(r.values ?? []).includes(labels[r.key]);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
  }
}

/** True when `labels` satisfy the selector; an empty selector matches all. */
export function selectorMatches(
  sel: LabelSelector,
  labels: Record<string, string>,
): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  return (sel.matchExpressions ?? []).every((r) => requirementHolds(r, labels));
}
