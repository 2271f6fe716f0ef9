using System.Collections.Generic;
using LoraKit.Data.Jinja;
using Xunit;

namespace LoraKit.Tests.Data.Chat;

/// <summary>
/// The Jinja subset, against the behaviour the Jinja documentation specifies (templates, whitespace control with
/// trim_blocks and lstrip_blocks, loop variables, namespaces, filters, tests) and Python's semantics for values
/// (str(), json.dumps, floor division, slicing), which Jinja inherits.
/// </summary>
public class JinjaTemplateTests
{
    private static string R(string template, Dictionary<string, object?>? vars = null) =>
        JinjaTemplate.Parse(template, "t.jinja").Render(vars ?? new Dictionary<string, object?>());

    [Theory]
    [InlineData("{% if true %}\nA\n{% endif %}\nB", "A\nB")]                    // trim_blocks: the newline after a block tag goes
    [InlineData("  {% if true %}x{% endif %}", "x")]                            // lstrip_blocks: indentation before a block tag goes
    [InlineData("a  {% if true %}x{% endif %}", "a  x")]                       // ... only from the start of a line
    [InlineData("l\n    {% if true %}x\n    {% endif %}\nz", "l\nx\nz")]
    [InlineData("  {%+ if true %}x{% endif %}", "  x")]                         // {%+ keeps the indentation
    [InlineData("{% if true +%}\nx{% endif %}", "\nx")]                         // +%} keeps the newline
    [InlineData("{{ 'a' }}\nb", "a\nb")]                                       // output tags keep their newline
    [InlineData("a  {{- 'b' -}}  \n c", "abc")]                                // - strips all whitespace on its side
    [InlineData("a\n  {%- if true -%}\n  b{% endif %}", "ab")]
    [InlineData("a {# c #} b", "a  b")]
    [InlineData("a\n  {#- c -#}\n  b", "ab")]
    [InlineData("x\n  {# c #}\ny", "x\ny")]                                      // comments obey trim/lstrip like blocks
    public void Whitespace_control_follows_trim_blocks_and_lstrip_blocks(string template, string expected) =>
        Assert.Equal(expected, R(template));

    // Jinja decodes a string literal with Python's unicode-escape codec (jinja2/lexer.py); the values are what
    // Python gives for the same literal.
    [Theory]
    [InlineData(@"{{ '\u00e9\x41\101\U0001F600' }}", "éAA\U0001F600")]
    [InlineData(@"{{ '\a\b\f\v' }}", "\a\b\f\v")]
    [InlineData(@"{{ '\0' }}|{{ '\012' }}|{{ '\1234' }}", "\0|\n|S4")]
    [InlineData(@"{{ '\q\8' }}", @"\q\8")] // unknown escapes are kept as written
    public void String_escapes_decode_as_pythons_unicode_escape(string template, string expected) =>
        Assert.Equal(expected, R(template));

    [Theory]
    [InlineData(@"{{ 'a\ud-1c' }}", "truncated \\uXXXX")] // found by eng/fuzz.sh (seed 90210): was a FormatException
    [InlineData(@"{{ '\x4' }}", "truncated \\xXX")]
    [InlineData(@"{{ '\u12' }}", "truncated \\uXXXX")]
    [InlineData(@"{{ '\U00110000' }}", "U+10FFFF")]
    [InlineData(@"{{ '\N{BULLET}' }}", "\\N{...}")]
    public void A_broken_escape_is_a_named_syntax_error_with_its_line(string template, string words)
    {
        var e = Assert.Throws<JinjaException>(() => R("\n" + template));
        Assert.Equal(2, e.Line);
        Assert.Contains(words, e.Problem);
    }

    [Theory]
    [InlineData("{% for x in [1,2,3] %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }},{% endfor %}", "01TrueFalse3,12FalseFalse3,23FalseTrue3,")]
    [InlineData("{% for x in [1,2,3,4] if x is even %}{{ x }}/{{ loop.length }} {% endfor %}", "2/2 4/2 ")]
    [InlineData("{% for x in [] %}a{% else %}empty{% endfor %}", "empty")]
    [InlineData("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", "13")]
    [InlineData("{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;")]
    [InlineData("{% for k, v in {'a': 1}.items() %}{{ k }}{{ v }}{% endfor %}", "a1")]
    [InlineData("{% set ns = namespace(n=0) %}{% for x in [1,2] %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}", "3")]
    [InlineData("{% set n = 0 %}{% for x in [1,2] %}{% set n = n + x %}{% endfor %}{{ n }}", "0")] // loops scope their sets
    [InlineData("{% set n = 1 %}{% if true %}{% set n = 2 %}{% endif %}{{ n }}", "2")]              // ifs do not
    [InlineData("{% set s %}in{{ 1 }}{% endset %}[{{ s }}]", "[in1]")]
    [InlineData("{% macro g(name, p='!') %}Hi {{ name }}{{ p }}{% endmacro %}{{ g('A') }} {{ g('B', p='?') }}", "Hi A! Hi B?")]
    public void Statements(string template, string expected) => Assert.Equal(expected, R(template));

    [Theory]
    [InlineData("{{ '  a ' | trim }}|{{ [1,2] | length }}|{{ 'ab' | length }}", "a|2|2")]
    [InlineData("{{ {'a': [1, 'x\"'], 'b': none, 'c': 1.5} | tojson }}", "{\"a\": [1, \"x\\\"\"], \"b\": null, \"c\": 1.5}")]
    [InlineData("{{ {'a': 1, 'b': [true]} | tojson(indent=2) }}", "{\n  \"a\": 1,\n  \"b\": [\n    true\n  ]\n}")]
    [InlineData("{{ 'é\n' | tojson }}", "\"é\\n\"")]                             // ensure_ascii=False, as Hugging Face sets it
    [InlineData("{{ 'Ab' | upper }}{{ 'Ab' | lower }}{{ 'ab cd' | title }}{{ 'aB' | capitalize }}", "ABabAb CdAb")]
    [InlineData("{{ nothing | default('d') }}{{ '' | default('e') }}{{ '' | default('f', true) }}", "df")]
    [InlineData("{{ [3,4] | first }}{{ [3,4] | last }}{{ 1 | string ~ 'x' }}{{ [1,2] | join('-') }}", "341x1-2")]
    [InlineData("{{ ['a','b','a'] | reject('equalto', 'a') | list }}{{ ['a','b'] | select('equalto', 'b') | list }}", "['b']['b']")]
    [InlineData("{{ [{'r': 'u'}, {'r': 'a'}, {'r': 'u'}] | selectattr('r', 'equalto', 'u') | list | length }}", "2")]
    [InlineData("{{ [{'r': 'u'}, {'r': 'a'}] | map(attribute='r') | join }}", "ua")]
    [InlineData("{{ '3' | int + 1 }}{{ 2 | float }}{{ -3 | abs }}{{ 'aXa' | replace('a', 'b') }}", "42.03bXb")]
    public void Filters(string template, string expected) => Assert.Equal(expected, R(template));

    [Theory]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 3 }} {{ 1 + 2 * 3 }}", "3 -4 1 2 3.5 8 7")]
    [InlineData("{{ [1,2,3,4][1:] }}{{ 'hello'[1:3] }}{{ [1,2,3][-1] }}{{ [1,2,3][::-1] }}{{ [1,2,3][:-1] }}", "[2, 3, 4]el3[3, 2, 1][1, 2]")]
    [InlineData("{{ ' x '.strip() }}{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'a,b'.split(',') }}{{ 'a b  c'.split() | length }}", "xTrueTrue['a', 'b']3")]
    [InlineData("{{ 'xxaxx'.lstrip('x') }}{{ 'xxaxx'.rstrip('x') }}{{ 'a</think>b'.split('</think>')[-1] }}", "axxxxab")]
    [InlineData("{{ 'a' in 'cat' }}{{ 2 not in [1] }}{{ 'k' in {'k': 1} }}{{ 'x' if false else 'y' }}{{ none or 'z' }}{{ 0 and 1 }}", "TrueTrueTrueyz0")]
    [InlineData("{{ true }}{{ none }}{{ 1.0 }}{{ [none, 'a'] }}{{ {'k': \"it's\"} }}", "TrueNone1.0[None, 'a']{'k': \"it's\"}")]
    [InlineData("{{ 1 == 1.0 }}{{ true == 1 }}{{ [1, {'a': 'b'}] == [1, {'a': 'b'}] }}{{ 'a' < 'b' }}{{ 'a' ~ 1 ~ none }}", "TrueTrueTrueTruea1None")]
    [InlineData("{{ x is defined }}{{ y is defined }}{{ y is none }}{{ 's' is string }}{{ 3 is odd }}{{ 4 is divisibleby 2 }}{{ 1 is not string }}{{ {} is mapping }}{{ [] is iterable }}", "TrueFalseFalseTrueTrueTrueTrueTrueTrue")]
    [InlineData("{{ m['role'] }}{{ m.role }}{{ m.missing is defined }}{{ m.content.content is defined }}{{ m.get('role') }}{{ m.get('x', 'd') }}", "useruserFalseFalseuserd")]
    [InlineData("{{ ('a' ~ 'b') | upper }}{{ 'a' + 'b' | upper }}{{ not x is defined }}", "ABaBFalse")]
    public void Expressions_have_python_semantics(string template, string expected) =>
        Assert.Equal(expected, R(template, new Dictionary<string, object?>
        {
            ["x"] = 1L,
            ["m"] = new Dictionary<string, object?> { ["role"] = "user", ["content"] = "s" },
        }));

    [Fact]
    public void Strftime_now_and_other_functions_are_callable_values()
    {
        Assert.Equal("0,1,2|2 4", R("{{ range(3) | join(',') }}|{% for i in range(2, 6, 2) %}{{ i }}{% if not loop.last %} {% endif %}{% endfor %}"));
        JinjaFunction f = (a, _) => "called:" + a[0];
        Assert.Equal("called:x", R("{{ fn('x') }}", new Dictionary<string, object?> { ["fn"] = f }));
    }

    [Theory]
    [InlineData("line1\n{{ x | frobnicate }}", 2, "filter 'frobnicate' is not supported")]
    [InlineData("a\nb\n{% if x %}\nabc", 3, "never closed")]
    [InlineData("{% for x in y %}\n{% endif %}", 2, "unexpected '{% endif %}'")]
    [InlineData("\n\n{{ raise_exception('roles must alternate') }}", 3, "roles must alternate")]
    [InlineData("{{ nope.attr }}", 1, "'nope' is undefined")]
    [InlineData("{{ 'a' + 1 }}", 1, "unsupported operand type(s) for +: 'str' and 'int'")]
    [InlineData("{% while true %}{% endwhile %}", 1, "'{% while %}' is not supported")]
    [InlineData("{{ 'unclosed }}", 1, "never closed")]
    [InlineData("{{ x is frobbed }}", 1, "test 'frobbed' is not supported")]
    public void Errors_name_the_template_and_line(string template, int line, string problem)
    {
        var e = Assert.Throws<JinjaException>(() => R(template, new Dictionary<string, object?> { ["x"] = 1L, ["y"] = new List<object?>() }));
        Assert.Equal(line, e.Line);
        Assert.StartsWith($"t.jinja:{line}: ", e.Message);
        Assert.Contains(problem, e.Message);
    }
}
