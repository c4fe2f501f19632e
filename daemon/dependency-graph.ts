// The shape of the dependency graph, with no process in sight: which names are missing,
// where the cycles are, and in which order services start (dependencies first) or stop
// (dependents first). Nodes are service names; an edge goes from a service to each name in
// its dependsOn. The supervisor, a reload and `pidvisor check` all refuse what this finds.

/** service name -> the names it depends on. */
export type DependencyMap = ReadonlyMap<string, readonly string[]>;

export interface GraphProblem {
  /** The service whose dependsOn is wrong. */
  service: string;
  /** The name it depends on that is missing, or the next service of the cycle. */
  dependency: string;
  kind: 'unknown' | 'cycle';
  /** For a cycle: its services in order, the first repeated at the end (a -> b -> a). */
  cycle?: string[];
  message: string;
}

/**
 * Every dependency on a name `exists` denies, and every cycle (each once, named from its
 * first service in `graph` order). `check`: only these services' edges are reported (the
 * new ones of a launch); cycles through them are found across the whole graph.
 */
export function graphProblems(graph: DependencyMap, exists: (name: string) => boolean, check: Iterable<string> = graph.keys()): GraphProblem[] {
  const checked = new Set(check);
  const problems: GraphProblem[] = [];
  for (const service of checked) {
    for (const dependency of graph.get(service) ?? []) {
      if (!exists(dependency)) problems.push({ service, dependency, kind: 'unknown', message: `depends on ${JSON.stringify(dependency)}, and there is no service of that name` });
    }
  }
  for (const cycle of findCycles(graph)) {
    if (!cycle.some((name) => checked.has(name))) continue;
    const text = cycle.join(' -> ');
    problems.push({ service: cycle[0]!, dependency: cycle[1]!, kind: 'cycle', cycle, message: `dependency cycle: ${text}` });
  }
  return problems;
}

/**
 * The cycles of the graph, one per strongly connected part that has one: a depth-first walk
 * reports a cycle at each edge back into its own path, and the services of a cycle found
 * are not walked again, so a tangle of cycles is reported once, not once per path.
 */
export function findCycles(graph: DependencyMap): string[][] {
  const done = new Set<string>();
  const cycles: string[][] = [];
  for (const root of graph.keys()) {
    if (done.has(root)) continue;
    // Iterative, so a long chain cannot overflow the stack.
    const path: string[] = [];
    const onPath = new Set<string>();
    const stack: Array<{ name: string; next: number }> = [{ name: root, next: 0 }];
    path.push(root);
    onPath.add(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const edges = graph.get(top.name) ?? [];
      if (top.next >= edges.length) {
        stack.pop();
        path.pop();
        onPath.delete(top.name);
        done.add(top.name);
        continue;
      }
      const next = edges[top.next++]!;
      if (onPath.has(next)) {
        const cycle = [...path.slice(path.indexOf(next)), next];
        cycles.push(cycle);
        for (const name of cycle) done.add(name);
        continue;
      }
      if (done.has(next) || !graph.has(next)) continue;
      stack.push({ name: next, next: 0 });
      path.push(next);
      onPath.add(next);
    }
  }
  return cycles;
}

/**
 * The services in start order, in layers: each layer depends only on earlier ones, and the
 * services of a layer start in parallel. Edges to names not in the graph are ignored; the
 * services of a cycle (refused elsewhere) come last, in one layer.
 */
export function startLayers(graph: DependencyMap): string[][] {
  const waitingOn = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const [service, dependencies] of graph) {
    const known = [...new Set(dependencies)].filter((name) => graph.has(name));
    waitingOn.set(service, known.length);
    for (const dependency of known) dependents.set(dependency, [...(dependents.get(dependency) ?? []), service]);
  }
  const layers: string[][] = [];
  let ready = [...waitingOn].filter(([, count]) => count === 0).map(([name]) => name);
  const placed = new Set<string>();
  while (ready.length > 0) {
    layers.push(ready);
    for (const name of ready) placed.add(name);
    const next: string[] = [];
    for (const name of ready) {
      for (const dependent of dependents.get(name) ?? []) {
        const left = waitingOn.get(dependent)! - 1;
        waitingOn.set(dependent, left);
        if (left === 0) next.push(dependent);
      }
    }
    ready = next;
  }
  const left = [...graph.keys()].filter((name) => !placed.has(name));
  if (left.length > 0) layers.push(left);
  return layers;
}
