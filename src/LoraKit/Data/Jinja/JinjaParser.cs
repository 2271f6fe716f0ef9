using System.Runtime.CompilerServices;

namespace LoraKit.Data.Jinja;

/// <summary>Parses the token stream of <see cref="JinjaLexer"/> into statements and expressions (Jinja's grammar and precedence).</summary>
internal sealed class JinjaParser
{
    private readonly List<Tok> _toks;
    private readonly string _name;
    private int _i;
    private int _nesting;

    private JinjaParser(List<Tok> toks, string name)
    {
        _toks = toks;
        _name = name;
    }

    public static List<Node> Parse(string source, string name)
    {
        var p = new JinjaParser(JinjaLexer.Lex(source, name), name);
        try
        {
            var body = p.ParseBody(out var stop);
            if (stop is not null) throw p.Error($"'{{% {stop} %}}' without a matching opening tag", p.Peek.Line);
            return body;
        }
        catch (InsufficientExecutionStackException)
        {
            throw p.NestingError();
        }
        catch (Exception e) when (e is not (JinjaException or OutOfMemoryException))
        {
            // A template is a stranger's program: whatever the parser did not foresee is still an error at its line.
            throw p.Error($"cannot parse this ({e.Message})");
        }
    }

    /// <summary>Enters one level of the parser's recursion (a parenthesis, bracket, block, unary operator, conditional).</summary>
    private void Nest()
    {
        if (++_nesting > JinjaLimits.MaxNesting) throw NestingError();
        RuntimeHelpers.EnsureSufficientExecutionStack();
    }

    private void Unnest() => _nesting--;

    private JinjaException NestingError() => new(_name, Peek.Line,
        $"sandbox limit '{JinjaLimits.Nesting}': parentheses, brackets, blocks or operators nest deeper than {JinjaLimits.MaxNesting} levels; simplify the template",
        JinjaLimits.Nesting);

    /// <summary>An operator, filter or attribute chain of <paramref name="length"/> links builds an expression that deep.</summary>
    private void CheckChain(int length)
    {
        if (_nesting + length > JinjaLimits.MaxDepth)
            throw new JinjaException(_name, Peek.Line,
                $"sandbox limit '{JinjaLimits.Depth}': an expression chains more than {JinjaLimits.MaxDepth} operators, filters or attributes; split it with {{% set %}}",
                JinjaLimits.Depth);
    }

    private Tok Peek => _toks[_i];
    private Tok Next() => _toks[_i++];

    private JinjaException Error(string problem, int? line = null) => new(_name, line ?? Peek.Line, problem);

    private bool IsName(string value) => Peek.Kind == TokKind.Name && Peek.Value == value;
    private bool IsOp(string value) => Peek.Kind == TokKind.Op && Peek.Value == value;

    private void ExpectOp(string value)
    {
        if (!IsOp(value)) throw Error($"expected '{value}', found {Describe(Peek)}");
        _i++;
    }

    private void ExpectName(string value)
    {
        if (!IsName(value)) throw Error($"expected '{value}', found {Describe(Peek)}");
        _i++;
    }

    private string ExpectIdentifier()
    {
        if (Peek.Kind != TokKind.Name) throw Error($"expected a name, found {Describe(Peek)}");
        return Next().Value;
    }

    private void ExpectBlockEnd()
    {
        if (Peek.Kind != TokKind.BlockEnd) throw Error($"expected '%}}', found {Describe(Peek)}");
        _i++;
    }

    private static string Describe(Tok t) => t.Kind switch
    {
        TokKind.End => "the end of the template",
        TokKind.BlockEnd => "'%}'",
        TokKind.OutputEnd => "'}}'",
        TokKind.String => $"the string '{t.Value}'",
        _ => $"'{t.Value}'",
    };

    /// <summary>Statements until the end or a closing/intermediate keyword (returned in <paramref name="stop"/>, its tag's '{%' consumed).</summary>
    private List<Node> ParseBody(out string? stop, params string[] stops)
    {
        var nodes = new List<Node>();
        while (true)
        {
            var t = Peek;
            switch (t.Kind)
            {
                case TokKind.End:
                    stop = null;
                    return nodes;
                case TokKind.Text:
                    _i++;
                    nodes.Add(new TextNode(t.Value, t.Line));
                    break;
                case TokKind.OutputStart:
                    _i++;
                    var e = ParseExpression();
                    if (Peek.Kind != TokKind.OutputEnd) throw Error($"expected '}}}}', found {Describe(Peek)}");
                    _i++;
                    nodes.Add(new OutputNode(e, t.Line));
                    break;
                case TokKind.BlockStart:
                    _i++;
                    var kw = Peek.Kind == TokKind.Name ? Peek.Value : throw Error($"expected a statement name after '{{%', found {Describe(Peek)}");
                    if (Array.IndexOf(stops, kw) >= 0 || kw.StartsWith("end", StringComparison.Ordinal) || kw is "elif" or "else")
                    {
                        if (Array.IndexOf(stops, kw) < 0) throw Error($"unexpected '{{% {kw} %}}'" + (stops.Length > 0 ? $" (expected {string.Join(" or ", stops)})" : ""));
                        _i++;
                        stop = kw;
                        return nodes;
                    }
                    nodes.Add(ParseStatement());
                    break;
                default:
                    throw Error($"unexpected {Describe(t)}");
            }
        }
    }

    private List<Node> ParseUntil(string construct, int line, out string stop, params string[] stops)
    {
        var body = ParseBody(out var s, stops);
        stop = s ?? throw Error($"'{{% {construct} %}}' is never closed (expected {string.Join(" or ", stops)} before the end of the template)", line);
        return body;
    }

    private Node ParseStatement()
    {
        Nest();
        try
        {
            return ParseStatementCore();
        }
        finally
        {
            Unnest();
        }
    }

    private Node ParseStatementCore()
    {
        var t = Next();
        switch (t.Value)
        {
            case "if":
                {
                    var branches = new List<(Expr, List<Node>)>();
                    var test = ParseExpression();
                    ExpectBlockEnd();
                    List<Node>? elseBody = null;
                    while (true)
                    {
                        var body = ParseUntil("if", t.Line, out var stop, "elif", "else", "endif");
                        branches.Add((test, body));
                        if (stop == "elif")
                        {
                            test = ParseExpression();
                            ExpectBlockEnd();
                            continue;
                        }
                        ExpectBlockEnd();
                        if (stop == "else")
                        {
                            elseBody = ParseUntil("if", t.Line, out _, "endif");
                            ExpectBlockEnd();
                        }
                        return new IfNode(branches, elseBody, t.Line);
                    }
                }
            case "for":
                {
                    var targets = new List<string> { ExpectIdentifier() };
                    while (IsOp(","))
                    {
                        _i++;
                        targets.Add(ExpectIdentifier());
                    }
                    ExpectName("in");
                    var iter = ParseOr(); // no conditional expression here: 'if' starts the loop filter
                    Expr? filter = null;
                    if (IsName("if"))
                    {
                        _i++;
                        filter = ParseOr();
                    }
                    if (IsName("recursive")) throw Error("recursive loops are not supported");
                    ExpectBlockEnd();
                    var body = ParseUntil("for", t.Line, out var stop, "else", "endfor");
                    ExpectBlockEnd();
                    List<Node>? elseBody = null;
                    if (stop == "else")
                    {
                        elseBody = ParseUntil("for", t.Line, out _, "endfor");
                        ExpectBlockEnd();
                    }
                    return new ForNode(targets, iter, filter, body, elseBody, t.Line);
                }
            case "set":
                {
                    var name = ExpectIdentifier();
                    string? attr = null;
                    if (IsOp("."))
                    {
                        _i++;
                        attr = ExpectIdentifier();
                    }
                    if (Peek.Kind == TokKind.BlockEnd && attr is null)
                    {
                        _i++;
                        var body = ParseUntil("set", t.Line, out _, "endset");
                        ExpectBlockEnd();
                        return new SetBlockNode(name, body, t.Line);
                    }
                    if (IsOp(",")) throw Error("'set' with several targets is not supported");
                    ExpectOp("=");
                    var value = ParseExpression();
                    ExpectBlockEnd();
                    return new SetNode(name, attr, value, t.Line);
                }
            case "macro":
                {
                    var name = ExpectIdentifier();
                    ExpectOp("(");
                    var ps = new List<(string, Expr?)>();
                    while (!IsOp(")"))
                    {
                        var pn = ExpectIdentifier();
                        Expr? def = null;
                        if (IsOp("="))
                        {
                            _i++;
                            def = ParseExpression();
                        }
                        ps.Add((pn, def));
                        if (!IsOp(")")) ExpectOp(",");
                    }
                    _i++;
                    ExpectBlockEnd();
                    var body = ParseUntil("macro", t.Line, out _, "endmacro");
                    ExpectBlockEnd();
                    return new MacroNode(name, ps, body, t.Line);
                }
            case "generation":
                {
                    // Hugging Face's {% generation %} marks assistant text for return_assistant_tokens_mask; rendering is unchanged.
                    ExpectBlockEnd();
                    var body = ParseUntil("generation", t.Line, out _, "endgeneration");
                    ExpectBlockEnd();
                    return new IfNode(new List<(Expr, List<Node>)> { (new LiteralExpr(true, t.Line), body) }, null, t.Line);
                }
            case "break":
                ExpectBlockEnd();
                return new BreakNode(t.Line);
            case "continue":
                ExpectBlockEnd();
                return new ContinueNode(t.Line);
            default:
                throw Error($"the statement '{{% {t.Value} %}}' is not supported (LoraKit's Jinja subset: if/elif/else, for, set, macro, generation, break, continue)", t.Line);
        }
    }

    // ---- Expressions (Jinja precedence, lowest first) ----

    public Expr ParseExpression()
    {
        Nest();
        try
        {
            return ParseExpressionCore();
        }
        finally
        {
            Unnest();
        }
    }

    private Expr ParseExpressionCore()
    {
        var e = ParseOr();
        if (IsName("if"))
        {
            var line = Next().Line;
            var test = ParseOr();
            Expr? other = null;
            if (IsName("else"))
            {
                _i++;
                other = ParseExpression();
            }
            return new CondExpr(test, e, other, line);
        }
        return e;
    }

    private Expr ParseOr() => ParseLeftAssociative(ParseAnd, () => IsName("or"));

    private Expr ParseAnd() => ParseLeftAssociative(ParseNot, () => IsName("and"));

    private Expr ParseNot()
    {
        if (IsName("not"))
        {
            var line = Next().Line;
            Nest();
            try
            {
                return new UnaryExpr("not", ParseNot(), line);
            }
            finally
            {
                Unnest();
            }
        }
        return ParseCompare();
    }

    private static readonly string[] CompareOps = { "==", "!=", "<", "<=", ">", ">=" };

    private Expr ParseCompare()
    {
        var e = ParseConcat();
        for (var chain = 1; ; chain++)
        {
            CheckChain(chain);
            var line = Peek.Line;
            if (Peek.Kind == TokKind.Op && Array.IndexOf(CompareOps, Peek.Value) >= 0)
            {
                var op = Next().Value;
                e = new BinaryExpr(op, e, ParseConcat(), line);
            }
            else if (IsName("in"))
            {
                _i++;
                e = new BinaryExpr("in", e, ParseConcat(), line);
            }
            else if (IsName("not") && _toks[_i + 1].Kind == TokKind.Name && _toks[_i + 1].Value == "in")
            {
                _i += 2;
                e = new UnaryExpr("not", new BinaryExpr("in", e, ParseConcat(), line), line);
            }
            else return e;
        }
    }

    private Expr ParseConcat() => ParseLeftAssociative(ParseAdd, () => IsOp("~"));

    private Expr ParseAdd() => ParseLeftAssociative(ParseMul, () => IsOp("+") || IsOp("-"));

    private Expr ParseMul() => ParseLeftAssociative(ParsePow, () => IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%"));

    private Expr ParsePow() => ParseLeftAssociative(ParseUnary, () => IsOp("**"));

    /// <summary>One precedence level of left-associative binary operators: operands from <paramref name="operand"/>
    /// (the next tighter level), joined while <paramref name="atOperator"/> sees one of this level's operators.</summary>
    private Expr ParseLeftAssociative(Func<Expr> operand, Func<bool> atOperator)
    {
        var e = operand();
        for (var chain = 1; atOperator(); chain++)
        {
            CheckChain(chain);
            var t = Next();
            e = new BinaryExpr(t.Value, e, operand(), t.Line);
        }
        return e;
    }

    private Expr ParseUnary()
    {
        if (IsOp("-") || IsOp("+"))
        {
            var t = Next();
            return ParseFilters(new UnaryExpr(t.Value, ParseUnaryNoFilter(), t.Line));
        }
        return ParseFilters(ParsePostfix(ParsePrimary()));
    }

    // Jinja: the operand of unary +/- takes no filters; the filters apply to the negated value (-3 | abs is 3).
    private Expr ParseUnaryNoFilter()
    {
        if (IsOp("-") || IsOp("+"))
        {
            var t = Next();
            Nest();
            try
            {
                return new UnaryExpr(t.Value, ParseUnaryNoFilter(), t.Line);
            }
            finally
            {
                Unnest();
            }
        }
        return ParsePostfix(ParsePrimary());
    }

    private Expr ParsePrimary()
    {
        var t = Next();
        switch (t.Kind)
        {
            case TokKind.String:
                {
                    var s = t.Value;
                    while (Peek.Kind == TokKind.String) s += Next().Value; // adjacent literals concatenate
                    return new LiteralExpr(s, t.Line);
                }
            case TokKind.Integer:
                return new LiteralExpr(IntegerLiteral(t), t.Line);
            case TokKind.Float:
                return new LiteralExpr(double.Parse(t.Value, CultureInfo.InvariantCulture), t.Line);
            case TokKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(true, t.Line),
                    "false" or "False" => new LiteralExpr(false, t.Line),
                    "none" or "None" => new LiteralExpr(null, t.Line),
                    _ => new NameExpr(t.Value, t.Line),
                };
            case TokKind.Op when t.Value == "(":
                {
                    var e = ParseExpression();
                    if (IsOp(","))
                    {
                        var items = new List<Expr> { e };
                        while (IsOp(","))
                        {
                            _i++;
                            if (IsOp(")")) break;
                            items.Add(ParseExpression());
                        }
                        ExpectOp(")");
                        return new ListExpr(items, t.Line);
                    }
                    ExpectOp(")");
                    return e;
                }
            case TokKind.Op when t.Value == "[":
                {
                    var items = new List<Expr>();
                    while (!IsOp("]"))
                    {
                        items.Add(ParseExpression());
                        if (!IsOp("]")) ExpectOp(",");
                    }
                    _i++;
                    return new ListExpr(items, t.Line);
                }
            case TokKind.Op when t.Value == "{":
                {
                    var items = new List<(Expr, Expr)>();
                    while (!IsOp("}"))
                    {
                        var k = ParseExpression();
                        ExpectOp(":");
                        items.Add((k, ParseExpression()));
                        if (!IsOp("}")) ExpectOp(",");
                    }
                    _i++;
                    return new DictExpr(items, t.Line);
                }
            default:
                throw Error($"expected a value, found {Describe(t)}", t.Line);
        }
    }

    private long IntegerLiteral(Tok t) =>
        long.TryParse(t.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
            : throw new JinjaException(_name, t.Line,
                $"sandbox limit '{JinjaLimits.Integer}': the integer {(t.Value.Length > 30 ? t.Value[..30] + "…" : t.Value)} does not fit in 64 bits (Python's integers are unbounded; LoraKit's template integers are 64-bit)",
                JinjaLimits.Integer);

    private Expr ParsePostfix(Expr e)
    {
        for (var chain = 1; ; chain++)
        {
            CheckChain(chain);
            var line = Peek.Line;
            if (IsOp("."))
            {
                _i++;
                if (Peek.Kind == TokKind.Integer) e = new ItemExpr(e, new LiteralExpr(IntegerLiteral(Next()), line), line);
                else e = new AttrExpr(e, ExpectIdentifier(), line);
            }
            else if (IsOp("["))
            {
                _i++;
                Expr? start = null, stop = null, step = null;
                var isSlice = false;
                if (!IsOp(":")) start = ParseExpression();
                if (IsOp(":"))
                {
                    isSlice = true;
                    _i++;
                    if (!IsOp("]") && !IsOp(":")) stop = ParseExpression();
                    if (IsOp(":"))
                    {
                        _i++;
                        if (!IsOp("]")) step = ParseExpression();
                    }
                }
                ExpectOp("]");
                e = isSlice ? new SliceExpr(e, start, stop, step, line) : new ItemExpr(e, start!, line);
            }
            else if (IsOp("("))
            {
                _i++;
                var (args, kwargs) = ParseArgs();
                e = new CallExpr(e, args, kwargs, line);
            }
            else return e;
        }
    }

    /// <summary>Arguments after '(' up to and including ')'.</summary>
    private (List<Expr>, List<(string, Expr)>) ParseArgs()
    {
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!IsOp(")"))
        {
            if (Peek.Kind == TokKind.Name && _toks[_i + 1].Kind == TokKind.Op && _toks[_i + 1].Value == "=")
            {
                var n = Next().Value;
                _i++;
                kwargs.Add((n, ParseExpression()));
            }
            else
            {
                if (kwargs.Count > 0) throw Error("a positional argument follows a keyword argument");
                args.Add(ParseExpression());
            }
            if (!IsOp(")")) ExpectOp(",");
        }
        _i++;
        return (args, kwargs);
    }

    private Expr ParseFilters(Expr e)
    {
        for (var chain = 1; ; chain++)
        {
            CheckChain(chain);
            var line = Peek.Line;
            if (IsOp("|"))
            {
                _i++;
                var name = ExpectIdentifier();
                var args = new List<Expr>();
                var kwargs = new List<(string, Expr)>();
                if (IsOp("("))
                {
                    _i++;
                    (args, kwargs) = ParseArgs();
                }
                e = new FilterExpr(e, name, args, kwargs, line);
            }
            else if (IsName("is"))
            {
                _i++;
                var negated = false;
                if (IsName("not"))
                {
                    _i++;
                    negated = true;
                }
                var name = Peek.Kind == TokKind.Name ? Next().Value
                    : Peek.Kind == TokKind.Op && Peek.Value is "==" or "!=" or "<" or ">" or "<=" or ">=" ? Next().Value
                    : throw Error($"expected a test name after 'is', found {Describe(Peek)}");
                if (name is "none" or "None") name = "none";
                else if (name is "true" or "True") name = "true";
                else if (name is "false" or "False") name = "false";
                var args = new List<Expr>();
                if (IsOp("("))
                {
                    _i++;
                    var (a, _) = ParseArgs();
                    args = a;
                }
                else if (Peek.Kind is TokKind.String or TokKind.Integer or TokKind.Float
                         || (Peek.Kind == TokKind.Name && Peek.Value is not ("and" or "or" or "else" or "if" or "in" or "is" or "not")))
                {
                    args.Add(ParsePostfix(ParsePrimary())); // `x is divisibleby 3`, `x is equalto 'a'`
                }
                e = new TestExpr(e, name, negated, args, line);
            }
            else return e;
        }
    }
}
