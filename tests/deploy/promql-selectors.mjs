// promql-selectors.mjs: parses PromQL expressions with Prometheus's own
// grammar (@prometheus-io/lezer-promql) for tests/deploy/check.sh, which
// compares what they select with what recs exports.
//
// stdin:  [{"where": "...", "expr": "..."}, ...]
// stdout: [{"where", "error": null or a message, "selectors": [{"name",
//          "matchers": [{"label", "op", "value"}]}], "grouping": [label, ...]}]
import { parser } from '@prometheus-io/lezer-promql';

const unquote = (literal) => JSON.parse(literal.startsWith("'")
  ? '"' + literal.slice(1, -1).replace(/"/g, '\\"') + '"'
  : literal.replace(/^`|`$/g, '"'));

function analyse({ where, expr }) {
  const tree = parser.parse(expr);
  const text = (node) => expr.slice(node.from, node.to);
  const result = { where, error: null, selectors: [], grouping: [] };
  tree.iterate({
    enter(ref) {
      const node = ref.node;
      if (node.type.isError && result.error === null) {
        result.error = `syntax error at offset ${node.from}: ${JSON.stringify(expr.slice(node.from, node.from + 20))}`;
      } else if (node.name === 'VectorSelector') {
        const id = node.getChild('Identifier');
        const matchers = [];
        for (const m of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
          matchers.push({
            label: text(m.getChild('LabelName')),
            op: text(m.getChild('MatchOp')),
            value: unquote(text(m.getChild('StringLiteral'))),
          });
        }
        result.selectors.push({ name: id ? text(id) : null, matchers });
      } else if (node.name === 'GroupingLabels') {
        for (const l of node.getChildren('LabelName')) result.grouping.push(text(l));
      }
    },
  });
  return result;
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map(analyse)) + '\n');
});
