using System.Runtime.CompilerServices;

namespace LoraKit.Data.Jinja;

/// <summary>
/// A parsed Jinja template, rendered with Hugging Face's chat-template settings (<c>trim_blocks</c>,
/// <c>lstrip_blocks</c>, loop controls, the default <c>Undefined</c>, <c>tojson</c> as <c>json.dumps</c> with
/// <c>ensure_ascii=False</c>). The subset covers what Hugging Face chat templates use; see docs/chat-data.md.
/// Errors are <see cref="JinjaException"/>s naming the template and line; <c>raise_exception(msg)</c> in the
/// template becomes a <see cref="JinjaException"/> whose problem is the template's message.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly List<Node> _body;

    private JinjaTemplate(string name, List<Node> body)
    {
        Name = name;
        _body = body;
    }

    /// <summary>The name errors carry, e.g. <c>tokenizer_config.json (chat_template)</c>.</summary>
    public string Name { get; }

    /// <summary>Parses <paramref name="source"/>; throws <see cref="JinjaException"/> with the line of a syntax error.</summary>
    public static JinjaTemplate Parse(string source, string name)
    {
        if (source is null) throw new ArgumentNullException(nameof(source));
        return new JinjaTemplate(name, JinjaParser.Parse(source, name));
    }

    /// <summary>
    /// Renders with <paramref name="variables"/> (values: null, bool, long, double, string, List, Dictionary, <see cref="JinjaFunction"/>)
    /// inside the sandbox of <see cref="JinjaLimits"/>; every failure is a <see cref="JinjaException"/> with the template's line.
    /// </summary>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        var r = new Renderer(Name, variables);
        var sb = new StringBuilder();
        try
        {
            r.Exec(_body, sb);
        }
        catch (LoopControl c)
        {
            throw new JinjaException(Name, _body.Count > 0 ? _body[0].Line : 1, $"'{{% {(c.IsBreak ? "break" : "continue")} %}}' outside a loop");
        }
        return sb.ToString();
    }

    private sealed class LoopControl : Exception
    {
        public LoopControl(bool isBreak) => IsBreak = isBreak;
        public bool IsBreak { get; }
    }

    private sealed class Macro
    {
        public required MacroNode Node { get; init; }
    }

    private sealed class Renderer
    {
        private readonly string _name;
        private readonly List<Dictionary<string, object?>> _scopes = new();
        private int _depth;
        private long _steps;

        public Renderer(string name, IReadOnlyDictionary<string, object?> variables)
        {
            _name = name;
            var globals = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["raise_exception"] = (JinjaFunction)((a, _) => throw new JinjaRaisedException(a.Count > 0 ? Py.Str(a[0]) : "raise_exception() was called")),
                ["namespace"] = (JinjaFunction)((a, kw) =>
                {
                    var ns = new JinjaNamespace();
                    foreach (var (k, v) in kw) ns.Attributes[k] = v;
                    return ns;
                }),
                ["range"] = (JinjaFunction)((a, kw) => Built(Range(a, kw))),
                ["dict"] = (JinjaFunction)((a, kw) => new Dictionary<string, object?>(kw, StringComparer.Ordinal)),
            };
            foreach (var (k, v) in variables) globals[k] = v;
            _scopes.Add(globals);
        }

        private JinjaException Error(Node n, string problem) => new(_name, n.Line, problem);

        private JinjaException LimitError(Node n, string limit, string problem) => new(_name, n.Line, $"sandbox limit '{limit}': {problem}", limit);

        // ---- the sandbox's accounting (JinjaLimits) ----

        /// <summary>Enters a statement or expression: one step, one level deeper; the limits are checked before .NET's stack is at risk.</summary>
        private void Enter(Node n)
        {
            if (++_depth > JinjaLimits.MaxDepth)
                throw LimitError(n, JinjaLimits.Depth, $"rendering nests deeper than {JinjaLimits.MaxDepth} levels (a macro that calls itself without end?)");
            if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
                throw LimitError(n, JinjaLimits.Depth, "rendering nests deeper than the stack allows (a macro that calls itself without end?)");
            Step(n, 1);
        }

        private void Step(Node n, long units)
        {
            _steps += units;
            if (_steps > JinjaLimits.MaxSteps)
                throw LimitError(n, JinjaLimits.Steps, $"the template did more than {JinjaLimits.MaxSteps:N0} steps of work for one rendering (loops nested too deep or too long); simplify it");
        }

        /// <summary>A value within the string and list limits (checked on every result, free of charge).</summary>
        private T Bounded<T>(T value, Node at)
        {
            if (value is string { Length: > JinjaLimits.MaxStringLength } str)
                throw LimitError(at, JinjaLimits.StringLength, $"a string of {str.Length:N0} characters, more than {JinjaLimits.MaxStringLength:N0}");
            if (value is List<object?> { Count: > JinjaLimits.MaxListLength } list)
                throw LimitError(at, JinjaLimits.ListLength, $"a list of {list.Count:N0} items, more than {JinjaLimits.MaxListLength:N0}");
            return value;
        }

        /// <summary>A value an operation built: within the limits, and charged for building it (a step per 64 characters, a step per item).</summary>
        private T Built<T>(T value, Node? at = null)
        {
            var node = at ?? _current;
            Bounded(value, node);
            Step(node, value switch
            {
                string str => str.Length / 64,
                List<object?> list => list.Count,
                _ => 0,
            });
            return value;
        }

        /// <summary>The node being evaluated (for errors raised by functions the template calls).</summary>
        private Node _current = new TextNode("", 1);

        /// <summary>The length of <paramref name="unit"/> × <paramref name="count"/> checked before it is built.</summary>
        private void RequireRepeatFits(Node at, long unit, long count)
        {
            if (count > 0 && unit > 0 && (count > JinjaLimits.MaxStringLength || unit * count > JinjaLimits.MaxStringLength))
                throw LimitError(at, JinjaLimits.StringLength, $"repeating {unit:N0} characters {count:N0} times, more than {JinjaLimits.MaxStringLength:N0}");
        }

        private static long Checked(Func<long> op)
        {
            try
            {
                return op();
            }
            catch (OverflowException)
            {
                throw SandboxLimitException.IntegerRange();
            }
        }

        /// <summary>The work of reading a value an operation takes: one step per 256 characters or 64 items.</summary>
        private static long Cost(object? v) => v switch
        {
            string str => str.Length / 256,
            List<object?> list => list.Count / 64,
            Dictionary<string, object?> d => d.Count / 64,
            _ => 0,
        };

        // ---- statements ----

        public void Exec(List<Node> nodes, StringBuilder sb)
        {
            foreach (var n in nodes) Exec(n, sb);
        }

        private void Exec(Node n, StringBuilder sb)
        {
            Enter(n);
            try
            {
                ExecCore(n, sb);
                if (sb.Length > JinjaLimits.MaxStringLength)
                    throw LimitError(n, JinjaLimits.StringLength, $"the output grew past {JinjaLimits.MaxStringLength:N0} characters");
            }
            catch (SandboxLimitException limit)
            {
                throw LimitError(n, limit.Limit, limit.Message);
            }
            catch (Exception x) when (x is not (JinjaException or LoopControl or OutOfMemoryException))
            {
                throw Error(n, x.Message);
            }
            finally
            {
                _depth--;
            }
        }

        private void ExecCore(Node n, StringBuilder sb)
        {
            switch (n)
            {
                case TextNode t:
                    Step(n, Cost(t.Text));
                    sb.Append(t.Text);
                    break;
                case OutputNode o:
                    {
                        var text = Py.Str(Eval(o.Value));
                        Step(n, Cost(text));
                        sb.Append(text);
                        break;
                    }
                case IfNode i:
                    foreach (var (test, body) in i.Branches)
                    {
                        if (Py.Truthy(Eval(test)))
                        {
                            Exec(body, sb);
                            return;
                        }
                    }
                    if (i.Else is not null) Exec(i.Else, sb);
                    break;
                case ForNode f:
                    ExecFor(f, sb);
                    break;
                case SetNode s:
                    {
                        var value = Eval(s.Value);
                        if (s.Attribute is null)
                        {
                            _scopes[^1][s.Name] = value;
                            break;
                        }
                        if (Lookup(s.Name) is not JinjaNamespace ns)
                            throw Error(s, $"cannot assign '{s.Name}.{s.Attribute}': '{s.Name}' is not a namespace() object");
                        ns.Attributes[s.Attribute] = value;
                        break;
                    }
                case SetBlockNode sbn:
                    {
                        var inner = new StringBuilder();
                        Exec(sbn.Body, inner);
                        _scopes[^1][sbn.Name] = inner.ToString();
                        break;
                    }
                case MacroNode m:
                    _scopes[^1][m.Name] = (JinjaFunction)((a, kw) => CallMacro(m, a, kw));
                    break;
                case BreakNode:
                    throw new LoopControl(true);
                case ContinueNode:
                    throw new LoopControl(false);
                default:
                    throw Error(n, $"cannot execute {n.GetType().Name}");
            }
        }

        // An iteration allocates its scope and the loop object: about as much work as ten plain steps.
        private const int LoopIterationCost = 10;

        private void ExecFor(ForNode f, StringBuilder sb)
        {
            var source = Eval(f.Iterable);
            var items = Iterate(source, f.Iterable);
            if (f.Filter is not null)
            {
                var kept = new List<object?>();
                foreach (var item in items)
                {
                    Step(f, 1);
                    _scopes.Add(new Dictionary<string, object?>(StringComparer.Ordinal));
                    Bind(f, item);
                    if (Py.Truthy(Eval(f.Filter))) kept.Add(item);
                    _scopes.RemoveAt(_scopes.Count - 1);
                }
                items = kept;
            }
            if (items.Count == 0)
            {
                if (f.Else is not null) Exec(f.Else, sb);
                return;
            }
            for (var i = 0; i < items.Count; i++)
            {
                Step(f, LoopIterationCost);
                var scope = new Dictionary<string, object?>(StringComparer.Ordinal);
                _scopes.Add(scope);
                try
                {
                    scope["loop"] = new JinjaLoop(items, i);
                    Bind(f, items[i]);
                    Exec(f.Body, sb);
                }
                catch (LoopControl c)
                {
                    if (c.IsBreak) break;
                }
                finally
                {
                    _scopes.RemoveAt(_scopes.Count - 1);
                }
            }
        }

        private void Bind(ForNode f, object? item)
        {
            if (f.Targets.Count == 1)
            {
                _scopes[^1][f.Targets[0]] = item;
                return;
            }
            if (item is not List<object?> tuple || tuple.Count != f.Targets.Count)
                throw Error(f, $"cannot unpack {Py.TypeName(item)} into {f.Targets.Count} loop variables");
            for (var k = 0; k < f.Targets.Count; k++) _scopes[^1][f.Targets[k]] = tuple[k];
        }

        private object? CallMacro(MacroNode m, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
        {
            if (args.Count > m.Parameters.Count) throw Error(m, $"macro '{m.Name}' takes {m.Parameters.Count} argument(s), {args.Count} given");
            var saved = _scopes.GetRange(1, _scopes.Count - 1);
            _scopes.RemoveRange(1, _scopes.Count - 1);
            var scope = new Dictionary<string, object?>(StringComparer.Ordinal);
            _scopes.Add(scope);
            try
            {
                for (var i = 0; i < m.Parameters.Count; i++)
                {
                    var (pn, def) = m.Parameters[i];
                    scope[pn] = i < args.Count ? args[i]
                        : kwargs.TryGetValue(pn, out var kv) ? kv
                        : def is not null ? Eval(def)
                        : new JinjaUndefined($"'{pn}' is undefined");
                }
                var sb = new StringBuilder();
                Exec(m.Body, sb);
                return sb.ToString();
            }
            finally
            {
                _scopes.RemoveRange(1, _scopes.Count - 1);
                _scopes.AddRange(saved);
            }
        }

        private object? Lookup(string name)
        {
            for (var i = _scopes.Count - 1; i >= 0; i--)
                if (_scopes[i].TryGetValue(name, out var v)) return v;
            return new JinjaUndefined($"'{name}' is undefined");
        }

        private List<object?> Iterate(object? v, Node at)
        {
            var items = v switch
            {
                JinjaUndefined => new List<object?>(),
                List<object?> l => l,
                Dictionary<string, object?> d => d.Keys.Cast<object?>().ToList(),
                string s when s.Length > JinjaLimits.MaxListLength => throw SandboxLimitException.ListTooLong(s.Length),
                string s => s.Select(c => (object?)c.ToString()).ToList(),
                _ => throw Error(at, $"'{Py.TypeName(v)}' object is not iterable"),
            };
            Step(at, Cost(items));
            return items;
        }

        // ---- expressions ----

        private object? Eval(Expr e)
        {
            Enter(e);
            var outer = _current;
            _current = e;
            try
            {
                return Bounded(EvalCore(e), e);
            }
            catch (JinjaRaisedException r)
            {
                throw Error(e, r.Message);
            }
            catch (SandboxLimitException limit)
            {
                throw LimitError(e, limit.Limit, limit.Message);
            }
            catch (OverflowException)
            {
                throw LimitError(e, JinjaLimits.Integer,
                    "a number does not fit in 64 bits (Python's integers are unbounded; LoraKit's template integers are 64-bit, and refuse rather than wrap)");
            }
            catch (Exception x) when (x is not (JinjaException or LoopControl or OutOfMemoryException))
            {
                // Whatever else an operation throws on values it does not take (a cast, an index) is the template's error at this line.
                throw Error(e, x.Message);
            }
            finally
            {
                _current = outer;
                _depth--;
            }
        }

        private object? EvalCore(Expr e)
        {
            switch (e)
            {
                case LiteralExpr l: return l.Value;
                case NameExpr n: return Lookup(n.Name);
                case ListExpr l: return Built(l.Items.Select(Eval).ToList(), l);
                case DictExpr d:
                    {
                        var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                        foreach (var (k, v) in d.Items)
                            dict[Eval(k) as string ?? throw Error(k, "dictionary keys must be strings")] = Eval(v);
                        return dict;
                    }
                case AttrExpr a: return GetAttr(Eval(a.Target), a.Name, a);
                case ItemExpr it: return GetItem(Eval(it.Target), Eval(it.Index), it);
                case SliceExpr s: return Slice(Eval(s.Target), s);
                case CallExpr c: return Built(Call(c), c);
                case FilterExpr f: return Built(ApplyFilter(f), f);
                case TestExpr t:
                    {
                        var r = ApplyTest(t);
                        return t.Negated ? !r : r;
                    }
                case CondExpr c:
                    return Py.Truthy(Eval(c.Test)) ? Eval(c.Then) : c.Else is null ? new JinjaUndefined("the conditional expression has no else") : Eval(c.Else);
                case UnaryExpr u:
                    {
                        var v = Eval(u.Operand);
                        return u.Op switch
                        {
                            "not" => !Py.Truthy(v),
                            "-" => v is long l ? (object)Checked(() => checked(-l)) : v is bool bv ? (bv ? -1L : 0L) : v is double d ? -d : throw Error(u, $"bad operand type for unary -: '{Py.TypeName(v)}'"),
                            _ => Py.IsNumber(v) ? v : throw Error(u, $"bad operand type for unary +: '{Py.TypeName(v)}'"),
                        };
                    }
                case BinaryExpr b: return Built(Binary(b), b);
                default: throw Error(e, $"cannot evaluate {e.GetType().Name}");
            }
        }

        private object? Binary(BinaryExpr b)
        {
            if (b.Op == "and")
            {
                var l = Eval(b.Left);
                return Py.Truthy(l) ? Eval(b.Right) : l;
            }
            if (b.Op == "or")
            {
                var l = Eval(b.Left);
                return Py.Truthy(l) ? l : Eval(b.Right);
            }
            var a = Eval(b.Left);
            var c = Eval(b.Right);
            Step(b, Cost(a) + Cost(c));
            switch (b.Op)
            {
                case "==": return Py.Equals(a, c);
                case "!=": return !Py.Equals(a, c);
                case "~": return Py.Str(a) + Py.Str(c);
                case "in": return Contains(c, a, b);
                case "<" or "<=" or ">" or ">=":
                    {
                        int cmp;
                        if (Py.IsNumber(a) && Py.IsNumber(c)) cmp = Py.ToDouble(a).CompareTo(Py.ToDouble(c));
                        else if (a is string sa && c is string sc) cmp = string.CompareOrdinal(sa, sc);
                        else throw Error(b, $"'{b.Op}' not supported between instances of '{Py.TypeName(a)}' and '{Py.TypeName(c)}'");
                        return b.Op switch { "<" => cmp < 0, "<=" => cmp <= 0, ">" => cmp > 0, _ => cmp >= 0 };
                    }
            }
            if (a is JinjaUndefined ua) throw Error(b, ua.Hint);
            if (c is JinjaUndefined uc) throw Error(b, uc.Hint);
            switch (b.Op)
            {
                case "+":
                    if (a is string s1 && c is string s2) return s1 + s2;
                    if (a is List<object?> l1 && c is List<object?> l2)
                    {
                        if ((long)l1.Count + l2.Count > JinjaLimits.MaxListLength)
                            throw LimitError(b, JinjaLimits.ListLength, $"a list of {(long)l1.Count + l2.Count:N0} items, more than {JinjaLimits.MaxListLength:N0}");
                        return l1.Concat(l2).ToList();
                    }
                    break;
                case "*":
                    if ((a is string && c is long or bool) || (a is long or bool && c is string))
                    {
                        var (text, times) = a is string ra ? (ra, Py.ToLong(c)) : ((string)c!, Py.ToLong(a));
                        RequireRepeatFits(b, text.Length, times);
                        return Repeat(text, times);
                    }
                    if ((a is List<object?> && c is long or bool) || (a is long or bool && c is List<object?>))
                    {
                        var (list, times) = a is List<object?> la ? (la, Py.ToLong(c)) : ((List<object?>)c!, Py.ToLong(a));
                        if (times > 0 && list.Count > 0 && (times > JinjaLimits.MaxListLength || list.Count * times > JinjaLimits.MaxListLength))
                            throw LimitError(b, JinjaLimits.ListLength, $"repeating a list of {list.Count:N0} items {times:N0} times, more than {JinjaLimits.MaxListLength:N0}");
                        var repeated = new List<object?>();
                        for (var k = 0L; k < times; k++) repeated.AddRange(list);
                        return repeated;
                    }
                    break;
            }
            if (Py.IsNumber(a) && Py.IsNumber(c))
            {
                var ints = a is not double && c is not double;
                switch (b.Op)
                {
                    case "+": return ints ? (object)Checked(() => checked(Py.ToLong(a) + Py.ToLong(c))) : Py.ToDouble(a) + Py.ToDouble(c);
                    case "-": return ints ? (object)Checked(() => checked(Py.ToLong(a) - Py.ToLong(c))) : Py.ToDouble(a) - Py.ToDouble(c);
                    case "*": return ints ? (object)Checked(() => checked(Py.ToLong(a) * Py.ToLong(c))) : Py.ToDouble(a) * Py.ToDouble(c);
                    case "/":
                        if (Py.ToDouble(c) == 0) throw Error(b, "division by zero");
                        return Py.ToDouble(a) / Py.ToDouble(c);
                    case "//":
                        if (Py.ToDouble(c) == 0) throw Error(b, "integer division or modulo by zero");
                        if (ints) return (object)FloorDiv(Py.ToLong(a), Py.ToLong(c));
                        return Math.Floor(Py.ToDouble(a) / Py.ToDouble(c));
                    case "%":
                        if (Py.ToDouble(c) == 0) throw Error(b, "integer division or modulo by zero");
                        if (ints) return (object)Checked(() => checked(Py.ToLong(a) - FloorDiv(Py.ToLong(a), Py.ToLong(c)) * Py.ToLong(c)));
                        return Py.ToDouble(a) - Math.Floor(Py.ToDouble(a) / Py.ToDouble(c)) * Py.ToDouble(c);
                    case "**":
                        return ints && Py.ToLong(c) >= 0 ? (object)IntPow(Py.ToLong(a), Py.ToLong(c)) : Math.Pow(Py.ToDouble(a), Py.ToDouble(c));
                }
            }
            throw Error(b, $"unsupported operand type(s) for {b.Op}: '{Py.TypeName(a)}' and '{Py.TypeName(c)}'");
        }

        /// <summary>Python's exact integer power (by squaring); beyond 64 bits it is refused, not rounded through a double.</summary>
        private static long IntPow(long b, long e) => Checked(() =>
        {
            long result = 1;
            while (e > 0)
            {
                if ((e & 1) != 0) result = checked(result * b);
                e >>= 1;
                if (e > 0) b = checked(b * b);
            }
            return result;
        });

        private static long FloorDiv(long a, long b)
        {
            if (a == long.MinValue && b == -1) throw SandboxLimitException.IntegerRange();
            var q = a / b;
            if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
            return q;
        }

        private bool Contains(object? container, object? item, Node at) => container switch
        {
            string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal) : throw Error(at, $"'in <string>' requires string as left operand, not {Py.TypeName(item)}"),
            List<object?> l => l.Any(x => Py.Equals(x, item)),
            Dictionary<string, object?> d => item is string k && d.ContainsKey(k),
            JinjaUndefined u => throw Error(at, u.Hint),
            _ => throw Error(at, $"argument of type '{Py.TypeName(container)}' is not iterable"),
        };

        private object? GetAttr(object? target, string name, Node at)
        {
            if (target is JinjaUndefined u) throw Error(at, $"{u.Hint} (while reading '.{name}')");
            if (Method(target, name) is { } m) return m;
            return target switch
            {
                JinjaLoop loop => loop.Attribute(name),
                Dictionary<string, object?> d => d.TryGetValue(name, out var v) ? v : new JinjaUndefined($"'dict object' has no attribute '{name}'"),
                JinjaNamespace ns => ns.Attributes.TryGetValue(name, out var v) ? v : new JinjaUndefined($"'namespace' has no attribute '{name}'"),
                _ => new JinjaUndefined($"'{Py.TypeName(target)} object' has no attribute '{name}'"),
            };
        }

        private object? GetItem(object? target, object? index, Node at)
        {
            switch (target)
            {
                case JinjaUndefined u: throw Error(at, $"{u.Hint} (while reading an item)");
                case Dictionary<string, object?> d when index is string k:
                    return d.TryGetValue(k, out var v) ? v : (object?)Method(target, k) ?? new JinjaUndefined($"'dict object' has no attribute '{k}'");
                case List<object?> l when index is long or bool:
                    {
                        var i = Py.ToLong(index);
                        if (i < 0) i += l.Count;
                        return i >= 0 && i < l.Count ? l[(int)i] : new JinjaUndefined($"list index {Py.Repr(index)} out of range");
                    }
                case string s when index is long or bool:
                    {
                        var i = Py.ToLong(index);
                        if (i < 0) i += s.Length;
                        return i >= 0 && i < s.Length ? s[(int)i].ToString() : new JinjaUndefined($"string index {Py.Repr(index)} out of range");
                    }
                case JinjaNamespace ns when index is string k:
                    return ns.Attributes.TryGetValue(k, out var nv) ? nv : new JinjaUndefined($"'namespace' has no attribute '{k}'");
                default:
                    if (index is string name) return GetAttr(target, name, at);
                    return new JinjaUndefined($"'{Py.TypeName(target)} object' has no item {Py.Repr(index)}");
            }
        }

        private object? Slice(object? target, SliceExpr s)
        {
            long? Opt(Expr? x)
            {
                if (x is null) return null;
                var v = Eval(x);
                return v is null ? null : v is long or bool ? Py.ToLong(v) : throw Error(x, "slice indices must be integers or None");
            }
            var start = Opt(s.Start);
            var stop = Opt(s.Stop);
            var step = Opt(s.Step) ?? 1;
            if (step == 0) throw Error(s, "slice step cannot be zero");
            int count;
            Func<int, object?> at;
            switch (target)
            {
                case List<object?> l: count = l.Count; at = i => l[i]; break;
                case string str: count = str.Length; at = i => str[i]; break;
                case JinjaUndefined u: throw Error(s, u.Hint);
                default: throw Error(s, $"'{Py.TypeName(target)}' object is not subscriptable");
            }
            var idx = SliceIndices(count, start, stop, step);
            if (target is string) return string.Concat(idx.Select(i => (char)at(i)!));
            return idx.Select(at).ToList();
        }

        private static List<int> SliceIndices(int n, long? start, long? stop, long step)
        {
            long Clamp(long v, long lo, long hi) => Math.Max(lo, Math.Min(hi, v));
            long s, e;
            if (step > 0)
            {
                s = start is null ? 0 : Clamp(start.Value < 0 ? start.Value + n : start.Value, 0, n);
                e = stop is null ? n : Clamp(stop.Value < 0 ? stop.Value + n : stop.Value, 0, n);
            }
            else
            {
                s = start is null ? n - 1 : Clamp(start.Value < 0 ? start.Value + n : start.Value, -1, n - 1);
                e = stop is null ? -1 : Clamp(stop.Value < 0 ? stop.Value + n : stop.Value, -1, n - 1);
            }
            var r = new List<int>();
            for (var i = s; step > 0 ? i < e : i > e; i += step)
            {
                r.Add((int)i);
                if (step > 0 ? step >= e - i : step <= e - i) break; // the next index would pass the end (or overflow)
            }
            return r;
        }

        private object? Call(CallExpr c)
        {
            // A method (s.count(x)) reads its object as well as its arguments: both are charged.
            object? callee;
            long cost = 0;
            if (c.Callee is AttrExpr method)
            {
                var target = Eval(method.Target);
                cost = Cost(target);
                callee = GetAttr(target, method.Name, method);
            }
            else callee = Eval(c.Callee);
            var args = c.Args.Select(Eval).ToList();
            var kwargs = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (k, v) in c.Kwargs) kwargs[k] = Eval(v);
            Step(c, cost + args.Sum(Cost) + kwargs.Values.Sum(Cost));
            return callee switch
            {
                JinjaFunction f => f(args, kwargs),
                JinjaUndefined u => throw Error(c, $"{u.Hint} (called as a function)"),
                _ => throw Error(c, $"'{Py.TypeName(callee)}' object is not callable"),
            };
        }

        private static object? Range(IReadOnlyList<object?> a, IReadOnlyDictionary<string, object?> _)
        {
            long start = 0, stop, step = 1;
            if (a.Count == 1) stop = Py.ToLong(a[0]);
            else if (a.Count >= 2)
            {
                start = Py.ToLong(a[0]);
                stop = Py.ToLong(a[1]);
                if (a.Count > 2) step = Py.ToLong(a[2]);
            }
            else throw new InvalidOperationException("range expected at least 1 argument, got 0");
            if (step == 0) throw new InvalidOperationException("range() arg 3 must not be zero");
            // jinja2's sandbox: "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."
            System.Numerics.BigInteger s = step, count = step > 0
                ? (stop > start ? ((System.Numerics.BigInteger)stop - start + s - 1) / s : 0)
                : (start > stop ? ((System.Numerics.BigInteger)start - stop - s - 1) / -s : 0);
            if (count > JinjaLimits.MaxRange)
                throw new SandboxLimitException(JinjaLimits.Range,
                    $"range() of {count:N0} items, more than {JinjaLimits.MaxRange:N0} (jinja2's sandbox MAX_RANGE); loop over the data instead");
            var r = new List<object?>((int)count);
            for (var k = 0; k < (int)count; k++) r.Add((long)(start + k * s));
            return r;
        }

        // ---- methods of str, dict and list (Python names) ----

        private static JinjaFunction? Method(object? target, string name)
        {
            switch (target)
            {
                case string s:
                    return name switch
                    {
                        "strip" => (a, _) => PyStrip(s, a.Count > 0 ? a[0] as string : null, true, true),
                        "lstrip" => (a, _) => PyStrip(s, a.Count > 0 ? a[0] as string : null, true, false),
                        "rstrip" => (a, _) => PyStrip(s, a.Count > 0 ? a[0] as string : null, false, true),
                        "startswith" => (a, _) => Prefixes(a).Any(p => s.StartsWith(p, StringComparison.Ordinal)),
                        "endswith" => (a, _) => Prefixes(a).Any(p => s.EndsWith(p, StringComparison.Ordinal)),
                        "split" => (a, kw) => PySplit(s, Arg(a, kw, 0, "sep") as string, Arg(a, kw, 1, "maxsplit") is long m ? m : -1),
                        "upper" => (_, _) => s.ToUpperInvariant(),
                        "lower" => (_, _) => s.ToLowerInvariant(),
                        "title" => (_, _) => Title(s),
                        "capitalize" => (_, _) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s.Substring(1).ToLowerInvariant(),
                        "replace" => (a, _) => a.Count >= 2 && a[0] is string o && a[1] is string n
                            ? Replace(s, o, n)
                            : throw new InvalidOperationException("replace() takes two string arguments"),
                        "find" => (a, _) => (long)s.IndexOf(a.Count > 0 && a[0] is string f ? f : throw new InvalidOperationException("find() takes a string"), StringComparison.Ordinal),
                        "count" => (a, _) => a.Count > 0 && a[0] is string f && f.Length > 0 ? (long)((s.Length - s.Replace(f, "", StringComparison.Ordinal).Length) / f.Length) : 0L,
                        "join" => (a, _) => Join(s, (a.Count > 0 ? a[0] as List<object?> : null)?.Select(Py.Str).ToList() ?? new List<string>()),
                        "splitlines" => (_, _) =>
                        {
                            var lines = s.Split('\n');
                            return lines.Select(x => (object?)x.TrimEnd('\r')).Where((x, i) => i < lines.Length - 1 || ((string)x!).Length > 0).ToList();
                        },
                        "isdigit" => (_, _) => s.Length > 0 && s.All(char.IsDigit),
                        _ => null,
                    };
                case Dictionary<string, object?> d:
                    return name switch
                    {
                        "items" => (_, _) => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
                        "keys" => (_, _) => d.Keys.Cast<object?>().ToList(),
                        "values" => (_, _) => d.Values.ToList(),
                        "get" => (a, _) => a.Count > 0 && a[0] is string k && d.TryGetValue(k, out var found) ? found : a.Count > 1 ? a[1] : null,
                        _ => null,
                    };
                default:
                    return null;
            }
        }

        /// <summary><c>text * times</c>, built by doubling copies (its length already checked).</summary>
        private static string Repeat(string text, long times)
        {
            if (times <= 0 || text.Length == 0) return "";
            return string.Create(checked(text.Length * (int)times), text, (span, unit) =>
            {
                unit.AsSpan().CopyTo(span);
                for (var filled = unit.Length; filled < span.Length; filled *= 2)
                    span[..Math.Min(filled, span.Length - filled)].CopyTo(span[filled..]);
            });
        }

        /// <summary><c>str.replace</c> (an empty old string leaves the text as it is), its length checked before it is built.</summary>
        private static string Replace(string s, string o, string n)
        {
            if (o.Length == 0) return s;
            if (n.Length > o.Length)
            {
                long count = 0;
                for (var i = s.IndexOf(o, StringComparison.Ordinal); i >= 0; i = s.IndexOf(o, i + o.Length, StringComparison.Ordinal)) count++;
                var length = s.Length + count * (n.Length - o.Length);
                if (length > JinjaLimits.MaxStringLength) throw SandboxLimitException.StringTooLong(length);
            }
            return s.Replace(o, n, StringComparison.Ordinal);
        }

        /// <summary><c>sep.join(items)</c>, its length checked before it is built.</summary>
        private static string Join(string separator, IReadOnlyList<string> items)
        {
            var length = items.Sum(x => (long)x.Length) + (long)separator.Length * Math.Max(0, items.Count - 1);
            if (length > JinjaLimits.MaxStringLength) throw SandboxLimitException.StringTooLong(length);
            return string.Join(separator, items);
        }

        private static object? Arg(IReadOnlyList<object?> a, IReadOnlyDictionary<string, object?> kw, int i, string name) =>
            i < a.Count ? a[i] : kw.TryGetValue(name, out var v) ? v : null;

        private static IEnumerable<string> Prefixes(IReadOnlyList<object?> a) => a.Count == 0
            ? throw new InvalidOperationException("startswith/endswith need an argument")
            : a[0] is List<object?> l ? l.Select(Py.Str) : new[] { Py.Str(a[0]) };

        private static string PyStrip(string s, string? chars, bool left, bool right)
        {
            Func<char, bool> strip = chars is null ? char.IsWhiteSpace : c => chars.IndexOf(c) >= 0;
            int b = 0, e = s.Length;
            if (left)
                while (b < e && strip(s[b])) b++;
            if (right)
                while (e > b && strip(s[e - 1])) e--;
            return s.Substring(b, e - b);
        }

        private static List<object?> PySplit(string s, string? sep, long maxsplit)
        {
            if (sep is null)
            {
                var parts = new List<object?>();
                var i = 0;
                while (true)
                {
                    while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                    if (i >= s.Length) break;
                    if (maxsplit >= 0 && parts.Count == maxsplit)
                    {
                        parts.Add(s.Substring(i).TrimEnd());
                        break;
                    }
                    var j = i;
                    while (j < s.Length && !char.IsWhiteSpace(s[j])) j++;
                    parts.Add(s.Substring(i, j - i));
                    i = j;
                }
                return parts;
            }
            if (sep.Length == 0) throw new InvalidOperationException("empty separator");
            return (maxsplit < 0 || maxsplit >= s.Length ? s.Split(sep) : s.Split(sep, (int)maxsplit + 1)).Select(x => (object?)x).ToList();
        }

        private static string Title(string s)
        {
            var sb = new StringBuilder(s.Length);
            var prevLetter = false;
            foreach (var c in s)
            {
                sb.Append(prevLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
                prevLetter = char.IsLetter(c);
            }
            return sb.ToString();
        }

        // ---- filters ----

        private object? ApplyFilter(FilterExpr f)
        {
            var v = Eval(f.Target);
            var a = f.Args.Select(Eval).ToList();
            var kw = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (k, x) in f.Kwargs) kw[k] = Eval(x);
            Step(f, Cost(v) + a.Sum(Cost) + kw.Values.Sum(Cost));
            return Filter(f.Name, v, a, kw, f);
        }

        private object? Filter(string name, object? v, IReadOnlyList<object?> a, IReadOnlyDictionary<string, object?> kw, Node at)
        {
            switch (name)
            {
                case "trim": return PyStrip(Py.Str(v), Arg(a, kw, 0, "chars") as string, true, true);
                case "length" or "count":
                    return v switch
                    {
                        string s => (long)s.Length,
                        List<object?> l => (long)l.Count,
                        Dictionary<string, object?> dict => (long)dict.Count,
                        JinjaUndefined => 0L,
                        _ => throw Error(at, $"object of type '{Py.TypeName(v)}' has no len()"),
                    };
                case "tojson":
                    {
                        var indent = Arg(a, kw, 0, "indent");
                        string? itemSep = null, keySep = null;
                        if (kw.TryGetValue("separators", out var seps) && seps is List<object?> { Count: 2 } sl)
                        {
                            itemSep = Py.Str(sl[0]);
                            keySep = Py.Str(sl[1]);
                        }
                        if (indent is long n && (n < 0 || n > 64))
                            throw Error(at, $"tojson(indent={n}): LoraKit indents JSON by 0 to 64 spaces");
                        return Py.Json(v, indent is long k ? (int)k : null, itemSep, keySep);
                    }
                case "upper": return Py.Str(v).ToUpperInvariant();
                case "lower": return Py.Str(v).ToLowerInvariant();
                case "capitalize": { var s = Py.Str(v); return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s.Substring(1).ToLowerInvariant(); }
                case "title": return Title(Py.Str(v));
                case "string": return Py.Str(v);
                case "safe": return v;
                case "default" or "d":
                    {
                        var def = Arg(a, kw, 0, "default_value") ?? (a.Count > 0 ? null : "");
                        var boolean = Py.Truthy(Arg(a, kw, 1, "boolean"));
                        return v is JinjaUndefined || (boolean && !Py.Truthy(v)) ? def : v;
                    }
                case "first": return Sequence(v, at) is { Count: > 0 } fl ? fl[0] : new JinjaUndefined("no first item");
                case "last": return Sequence(v, at) is { Count: > 0 } ll ? ll[^1] : new JinjaUndefined("no last item");
                case "list": return Sequence(v, at).ToList();
                case "reverse": return v is string rs ? new string(rs.Reverse().ToArray()) : Enumerable.Reverse(Sequence(v, at)).ToList();
                case "join":
                    {
                        var sep = Py.Str(Arg(a, kw, 0, "d") ?? "");
                        var attr = Arg(a, kw, 1, "attribute") as string;
                        return Join(sep, Sequence(v, at).Select(x => Py.Str(attr is null ? x : GetItem(x, attr, at))).ToList());
                    }
                case "items":
                    return v is Dictionary<string, object?> d ? d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList()
                        : v is JinjaUndefined ? new List<object?>() : throw Error(at, $"the items filter needs a mapping, not {Py.TypeName(v)}");
                case "selectattr" or "rejectattr":
                    {
                        var attr = a.Count > 0 ? Py.Str(a[0]) : throw Error(at, $"{name} needs an attribute name");
                        var keep = name == "selectattr";
                        return Sequence(v, at).Where(x =>
                        {
                            var val = GetItem(x, attr, at);
                            var ok = a.Count > 1 ? Test(Py.Str(a[1]), val, a.Skip(2).ToList(), at) : Py.Truthy(val);
                            return ok == keep;
                        }).ToList();
                    }
                case "select" or "reject":
                    {
                        var keep = name == "select";
                        return Sequence(v, at).Where(x => (a.Count > 0 ? Test(Py.Str(a[0]), x, a.Skip(1).ToList(), at) : Py.Truthy(x)) == keep).ToList();
                    }
                case "map":
                    {
                        if (kw.TryGetValue("attribute", out var attr))
                            return Sequence(v, at).Select(x => GetItem(x, Py.Str(attr), at) is JinjaUndefined && kw.TryGetValue("default", out var dv) ? dv : GetItem(x, Py.Str(attr), at)).ToList();
                        if (a.Count == 0) throw Error(at, "map needs a filter name or attribute=");
                        var fname = Py.Str(a[0]);
                        return Sequence(v, at).Select(x => Filter(fname, x, a.Skip(1).ToList(), new Dictionary<string, object?>(), at)).ToList();
                    }
                case "unique":
                    {
                        var r = new List<object?>();
                        foreach (var x in Sequence(v, at))
                        {
                            Step(at, 1 + r.Count / 64);
                            if (!r.Any(y => Py.Equals(x, y))) r.Add(x);
                        }
                        return r;
                    }
                case "int":
                    return v switch
                    {
                        long l => l,
                        double dd => Py.ToLong(dd),
                        bool b => b ? 1L : 0L,
                        string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) => p,
                        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var pd) => Py.ToLong(pd),
                        _ => Arg(a, kw, 0, "default") ?? 0L,
                    };
                case "float":
                    return v switch
                    {
                        long or double or bool => Py.ToDouble(v),
                        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var p) => p,
                        _ => Arg(a, kw, 0, "default") ?? 0.0,
                    };
                case "abs": return v is long l2 ? (object)Math.Abs(l2) : v is double d2 ? Math.Abs(d2) : throw Error(at, $"bad operand type for abs(): '{Py.TypeName(v)}'");
                case "replace":
                    {
                        var s = Py.Str(v);
                        var o = Py.Str(Arg(a, kw, 0, "old"));
                        var n = Py.Str(Arg(a, kw, 1, "new"));
                        return Replace(s, o, n);
                    }
                case "sum": return Sequence(v, at).Aggregate((object?)0L, (acc, x) => acc is long la && x is long lb ? (object?)Checked(() => checked(la + lb)) : Py.ToDouble(acc) + Py.ToDouble(x));
                default:
                    throw Error(at, $"the filter '{name}' is not supported by LoraKit's Jinja subset");
            }
        }

        private List<object?> Sequence(object? v, Node at) => Iterate(v, at);

        // ---- tests ----

        private bool ApplyTest(TestExpr t)
        {
            var v = Eval(t.Target);
            var args = t.Args.Select(Eval).ToList();
            Step(t, Cost(v) + args.Sum(Cost));
            return Test(t.Name, v, args, t);
        }

        private bool Test(string name, object? v, IReadOnlyList<object?> a, Node at)
        {
            object? A0() => a.Count > 0 ? a[0] : throw Error(at, $"the test '{name}' needs an argument");
            return name switch
            {
                "defined" => v is not JinjaUndefined,
                "undefined" => v is JinjaUndefined,
                "none" => v is null,
                "string" => v is string,
                "number" => v is long or double,
                "integer" => v is long,
                "float" => v is double,
                "boolean" => v is bool,
                "true" => v is true,
                "false" => v is false,
                "mapping" => v is Dictionary<string, object?>,
                "iterable" => v is string or List<object?> or Dictionary<string, object?>,
                "sequence" => v is string or List<object?> or Dictionary<string, object?>,
                "callable" => v is JinjaFunction,
                "equalto" or "eq" or "==" or "sameas" => Py.Equals(v, A0()),
                "ne" or "!=" => !Py.Equals(v, A0()),
                "lt" or "<" or "lessthan" => Py.ToDouble(v) < Py.ToDouble(A0()),
                "gt" or ">" or "greaterthan" => Py.ToDouble(v) > Py.ToDouble(A0()),
                "le" or "<=" => Py.ToDouble(v) <= Py.ToDouble(A0()),
                "ge" or ">=" => Py.ToDouble(v) >= Py.ToDouble(A0()),
                "odd" => Py.ToLong(v) % 2 != 0,
                "even" => Py.ToLong(v) % 2 == 0,
                "divisibleby" => Py.ToLong(v) % Py.ToLong(A0()) == 0,
                "in" => Contains(A0(), v, at),
                "lower" => v is string ls && ls == ls.ToLowerInvariant(),
                "upper" => v is string us && us == us.ToUpperInvariant(),
                _ => throw Error(at, $"the test '{name}' is not supported by LoraKit's Jinja subset"),
            };
        }
    }
}
