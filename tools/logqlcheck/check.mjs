// check.mjs parses LogQL expressions with @grafana/lezer-logql, the grammar
// Grafana's query editor uses, and tells internal/packcheck what it found.
//
// Input (stdin): a JSON array of expression strings.
// Output (stdout): a JSON array with one object per expression, in order:
//   expr      the expression
//   kind      the top-level expression: "log", "metric", or "" when unknown
//   errors    [{from, to, near}] for every error node of the parse tree
//   matchers  [{name, op, value, from}] for every matcher of every stream
//             selector; value is the string literal as written, quotes and
//             escapes included, for the caller to unquote as Loki does
//
// Offsets are in bytes of the UTF-8 text, as Go counts them. It judges
// nothing: it exits 0 whenever it could read its input, and the caller
// decides what is a problem. Try it by hand with
//   echo '["{job=\"osquery\"} |= \"x\""]' | node tools/logqlcheck/check.mjs

import { parser } from '@grafana/lezer-logql';

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

// The tree is LogQL > Expr > (LogExpr | MetricExpr); anything else means the
// parser could not tell.
function kindOf(tree) {
  const top = tree.topNode.firstChild;
  const expr = top && top.name === 'Expr' ? top.firstChild : null;
  if (!expr) return '';
  if (expr.name === 'LogExpr') return 'log';
  if (expr.name === 'MetricExpr') return 'metric';
  return '';
}

// A selector's Matcher holds Identifier, an operator node and String; a
// Matcher elsewhere (label filters after a pipe) is not a stream selector.
function selectorMatchers(node, text) {
  const out = [];
  const cursor = node.cursor();
  const walk = () => {
    do {
      if (cursor.name === 'Matcher') {
        const m = cursor.node;
        const name = m.getChild('Identifier');
        const value = m.getChild('String');
        const op = m.getChild('Eq') || m.getChild('Neq') || m.getChild('Re') || m.getChild('Nre');
        out.push({
          name: name ? text.slice(name.from, name.to) : '',
          op: op ? text.slice(op.from, op.to) : '',
          value: value ? text.slice(value.from, value.to) : '',
          from: m.from,
        });
        continue;
      }
      if (cursor.firstChild()) {
        walk();
        cursor.parent();
      }
    } while (cursor.nextSibling());
  };
  if (cursor.firstChild()) walk();
  return out;
}

function check(text) {
  const tree = parser.parse(text);
  // lezer counts UTF-16 code units.
  const byteAt = (i) => Buffer.byteLength(text.slice(0, i), 'utf8');
  const errors = [];
  const matchers = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push({ from: byteAt(node.from), to: byteAt(node.to), near: text.slice(node.from, Math.min(text.length, node.from + 30)) });
      }
      if (node.name === 'Selector') {
        for (const m of selectorMatchers(node.node, text)) {
          matchers.push({ ...m, from: byteAt(m.from) });
        }
      }
    },
  });
  return { expr: text, kind: kindOf(tree), errors, matchers };
}

let exprs;
try {
  exprs = JSON.parse(await readStdin());
} catch (err) {
  process.stderr.write(`logqlcheck: input is not JSON: ${err.message}\n`);
  process.exit(2);
}
if (!Array.isArray(exprs) || exprs.some((e) => typeof e !== 'string')) {
  process.stderr.write('logqlcheck: input must be a JSON array of strings\n');
  process.exit(2);
}
process.stdout.write(JSON.stringify(exprs.map(check)) + '\n');
