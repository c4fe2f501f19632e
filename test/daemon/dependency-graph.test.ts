// The shape of the dependency graph: missing names, cycles (each once, named in order), and
// start layers, on graphs small enough to check by hand and on random ones.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findCycles, graphProblems, startLayers } from '../../daemon/dependency-graph.js';

const graph = (entries: Record<string, string[]>) => new Map(Object.entries(entries));

describe('dependency graph', () => {
  it('names every missing dependency, and each cycle once, in order', () => {
    const g = graph({ web: ['db', 'ghost'], db: [], a: ['b'], b: ['c'], c: ['a'], self: ['self'] });
    const problems = graphProblems(g, (name) => g.has(name));
    expect(problems.map((p) => p.message)).toEqual([
      'depends on "ghost", and there is no service of that name',
      'dependency cycle: a -> b -> c -> a',
      'dependency cycle: self -> self',
    ]);
    expect(problems[1]).toMatchObject({ service: 'a', dependency: 'b', kind: 'cycle', cycle: ['a', 'b', 'c', 'a'] });
  });

  it('reports only the problems of the services checked (a launch), but cycles through them across the graph', () => {
    const g = graph({ old: ['gone'], x: ['y'], y: ['x'], fresh: ['x'] });
    expect(graphProblems(g, (name) => g.has(name), ['fresh'])).toEqual([]);
    expect(graphProblems(g, (name) => g.has(name), ['y']).map((p) => p.message)).toEqual(['dependency cycle: x -> y -> x']);
  });

  it('orders services in layers, each after its dependencies; cycles last', () => {
    expect(startLayers(graph({ web: ['db', 'migrate'], migrate: ['db'], db: [], cache: [] }))).toEqual([['db', 'cache'], ['migrate'], ['web']]);
    expect(startLayers(graph({ a: ['b'], b: ['a'], c: [], d: ['missing'] }))).toEqual([['c', 'd'], ['a', 'b']]);
  });

  it('finds a cycle exactly when there is one, and layers every service of an acyclic graph after its dependencies', () => {
    const randomGraph = fc.integer({ min: 1, max: 8 }).chain((n) =>
      fc.array(fc.uniqueArray(fc.nat(n - 1), { maxLength: 3 }), { minLength: n, maxLength: n }).map((edges) => new Map(edges.map((to, i) => [`s${i}`, to.map((j) => `s${j}`)]))),
    );
    fc.assert(
      fc.property(randomGraph, (g) => {
        const layers = startLayers(g);
        const layerOf = new Map(layers.flatMap((layer, i) => layer.map((name) => [name, i] as const)));
        const ordered = [...g].every(([name, deps]) => deps.every((d) => layerOf.get(d)! < layerOf.get(name)!));
        expect(layers.flat().sort()).toEqual([...g.keys()].sort());
        // Acyclic exactly when every edge goes to an earlier layer; each cycle found is real.
        expect(findCycles(g).length === 0).toBe(ordered);
        for (const cycle of findCycles(g)) {
          expect(cycle[0]).toBe(cycle.at(-1));
          for (let i = 0; i + 1 < cycle.length; i++) expect(g.get(cycle[i]!)).toContain(cycle[i + 1]);
        }
      }),
      { numRuns: 300 },
    );
  });
});
