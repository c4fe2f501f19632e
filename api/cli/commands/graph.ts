// `pidvisor graph`: every process in start order, with what it needs (dependsOn) and
// whether each condition holds now, from GET /v1/graph.
import { EXIT, UsageError, type Command } from '../command.js';
import { table } from '../format.js';
import { describeDependencies } from '../format-dependencies.js';
import type { DependencyGraph } from '../../../daemon/dependency-tracker.js';

export const graphCommand: Command = {
  name: 'graph',
  summary: 'Show the dependency graph: every process in start order, what it needs, and why it waits.',
  usage: 'graph [--json]',
  details: `ORDER: processes with the same number start together, after every lower number; stops
(and the daemon shutdown) go in the reverse order. NEEDS: each dependsOn entry as
"NAME CONDITION: met", or "waiting" / "blocked" with the reason. A blocked process starts
once someone acts on what blocks it (starting it by hand starts what it needs first).`,
  options: {},
  client: true,
  async run(context) {
    if (context.positionals.length > 0) throw new UsageError(`unexpected arguments: ${context.positionals.join(' ')}`);
    const { body } = await context.client.json<DependencyGraph>('GET', '/v1/graph');
    if (context.json) {
      context.out(JSON.stringify(body, null, 2));
      return EXIT.ok;
    }
    context.out(graphTable(body));
    return EXIT.ok;
  },
};

/** The graph as a table in start order: the layer (processes of one layer start together), state, and needs. */
function graphTable(graph: DependencyGraph): string {
  const layerOf = new Map<string, number>();
  graph.startOrder.forEach((layer, index) => layer.forEach((name) => layerOf.set(name, index + 1)));
  const keyOf = (node: DependencyGraph['nodes'][number]): string => node.name ?? node.id;
  const nodes = [...graph.nodes].sort((a, b) => (layerOf.get(keyOf(a)) ?? Number.MAX_SAFE_INTEGER) - (layerOf.get(keyOf(b)) ?? Number.MAX_SAFE_INTEGER));
  return table(
    ['ORDER', 'NAME', 'STATE', 'NEEDS'],
    nodes.map((node) => [
      String(layerOf.get(keyOf(node)) ?? '-'),
      keyOf(node),
      node.state,
      describeDependencies(graph.edges.filter((edge) => edge.from === keyOf(node))),
    ]),
  );
}
