using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using LoraKit.Data;
using LoraKit.Data.Jinja;
using Xunit;

namespace LoraKit.Tests.Hardening;

/// <summary>
/// The chat-template sandbox (<see cref="JinjaLimits"/>): each hostile template of issue 25 stops with the named limit
/// and the template's line instead of a stack overflow, an out-of-memory or an endless loop; Python's integer results
/// are followed exactly within 64 bits and refused beyond; templates below the limits render as before.
/// </summary>
public class JinjaSandboxTests
{
    private static string R(string template) =>
        JinjaTemplate.Parse(template, "t.jinja").Render(new Dictionary<string, object?>());

    private static JinjaException Refused(string template, string limit)
    {
        var e = Assert.Throws<JinjaException>(() => R(template));
        Assert.Equal(limit, e.Limit);
        Assert.StartsWith($"t.jinja:{e.Line}: sandbox limit '{limit}'", e.Message);
        return e;
    }

    [Fact]
    public void A_macro_that_calls_itself_stops_at_the_depth_limit_on_its_line()
    {
        var e = Refused("{% macro f(n) %}\n{{ f(n + 1) }}\n{% endmacro %}{{ f(0) }}", JinjaLimits.Depth);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void A_recursive_macro_of_moderate_depth_still_renders()
    {
        // Python's jinja2 renders this (50 nested calls); the sandbox must not refuse it either.
        Assert.Equal(new string('x', 50), R("{% macro f(n) %}{% if n > 0 %}x{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(50) }}"));
    }

    [Fact]
    public void The_depth_limit_holds_on_a_thread_with_a_small_stack()
    {
        // The count alone could pass .NET's stack on a small thread stack: the stack itself is checked as well.
        Exception? caught = null;
        var thread = new Thread(() =>
        {
            try
            {
                R("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
            }
            catch (Exception e)
            {
                caught = e;
            }
        }, 256 * 1024);
        thread.Start();
        thread.Join();
        var j = Assert.IsType<JinjaException>(caught);
        Assert.Equal(JinjaLimits.Depth, j.Limit);
    }

    [Theory]
    [InlineData(100_000, "(", ")")]
    [InlineData(100_000, "[", "]")]
    [InlineData(10_000, "{% if true %}", "{% endif %}")]
    [InlineData(100_000, "not ", "")]
    [InlineData(100_000, "-", "")]
    public void Deep_nesting_in_the_source_stops_at_the_nesting_limit(int depth, string open, string close)
    {
        var inner = open.StartsWith("{%", StringComparison.Ordinal)
            ? string.Concat(Enumerable.Repeat(open, depth)) + "x" + string.Concat(Enumerable.Repeat(close, depth))
            : "{{ " + string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth)) + " }}";
        var e = Assert.Throws<JinjaException>(() => JinjaTemplate.Parse(inner, "t.jinja"));
        Assert.Equal(JinjaLimits.Nesting, e.Limit);
    }

    [Fact]
    public void Nesting_below_the_limit_parses_and_renders()
    {
        Assert.Equal("1", R("{{ " + new string('(', 60) + "1" + new string(')', 60) + " }}"));
        Assert.Equal("x", R(string.Concat(Enumerable.Repeat("{% if true %}", 60)) + "x" + string.Concat(Enumerable.Repeat("{% endif %}", 60))));
    }

    [Theory]
    [InlineData(" + 1")]
    [InlineData(" ~ 'a'")]
    [InlineData(" | string")]
    [InlineData(".x")]
    public void A_long_operator_or_filter_chain_stops_at_the_depth_limit(string link)
    {
        var e = Assert.Throws<JinjaException>(() => JinjaTemplate.Parse("{{ 1" + string.Concat(Enumerable.Repeat(link, 200_000)) + " }}", "t.jinja"));
        Assert.Equal(JinjaLimits.Depth, e.Limit);
    }

    [Fact]
    public void A_chain_below_the_limit_renders() =>
        Assert.Equal("300", R("{{ 0" + string.Concat(Enumerable.Repeat(" + 1", 300)) + " }}"));

    [Fact]
    public void Range_is_capped_at_jinja2s_MAX_RANGE()
    {
        Assert.Equal("100000", R("{{ range(100000) | length }}"));
        Assert.Equal("100000", R("{{ range(5, 200005, 2) | length }}"));
        Refused("{{ range(100001) | length }}", JinjaLimits.Range);
        var e = Refused("\n{% for i in range(10**9) %}{% endfor %}", JinjaLimits.Range);
        Assert.Equal(2, e.Line);
        Refused("{{ range(-9223372036854775807, 9223372036854775807) | length }}", JinjaLimits.Range);
    }

    [Fact]
    public void Range_near_the_ends_of_64_bits_stops_where_Python_does() =>
        Assert.Equal("[9223372036854775800, 9223372036854775805]", R("{{ range(9223372036854775800, 9223372036854775807, 5) | list }}"));

    [Theory]
    [InlineData("{{ 'x' * 1000000000 }}")]
    [InlineData("{{ 1000000000 * 'ab' }}")]
    [InlineData("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}")]
    [InlineData("{% set ns = namespace(a=[1]) %}{% for i in range(30) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a }}")]
    [InlineData("{{ ('x' * 1000000).replace('x', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy') }}")]
    [InlineData("{{ (['xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' * 10000] * 100000) | join('') }}")]
    public void Strings_past_the_length_limit_are_refused_before_they_exhaust_memory(string template) =>
        Refused(template, JinjaLimits.StringLength);

    [Theory]
    [InlineData("{% set l = (range(100000) | list) * 6 %}{{ (l + l) | length }}")]
    [InlineData("{{ ([1] * 10000000) | length }}")]
    public void Lists_past_the_length_limit_are_refused(string template) => Refused(template, JinjaLimits.ListLength);

    [Theory]
    [InlineData("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")]
    [InlineData("{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}")]
    [InlineData("{% set s = 'x' * 4000000 %}{% for i in range(100000) %}{{ s.count('y') }}{% endfor %}")]
    [InlineData("{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}")]
    public void Endless_work_stops_at_the_step_budget(string template) => Refused(template, JinjaLimits.Steps);

    [Theory]
    [InlineData("{{ 2 ** 62 }}", "4611686018427387904")]
    [InlineData("{{ 3 ** 39 }}", "4052555153018976267")]
    [InlineData("{{ -2 ** 63 }}", "-9223372036854775808")]
    [InlineData("{{ 9223372036854775807 }}", "9223372036854775807")]
    [InlineData("{{ 7 // -2 }} {{ -7 % 3 }}", "-4 2")]
    [InlineData("{{ [1, 2, 3] | sum }}", "6")]
    [InlineData("{{ (2 ** 53 + 1) }}", "9007199254740993")]
    [InlineData("{{ 1e3 }} {{ 2.5E-3 }}", "1000.0 0.0025")]
    public void Integer_arithmetic_is_exact_as_in_Python(string template, string python) => Assert.Equal(python, R(template));

    [Theory]
    [InlineData("{{ 2 ** 100 }}")]
    [InlineData("{{ 2 ** 64 }}")]
    [InlineData("{{ 9223372036854775807 + 1 }}")]
    [InlineData("{{ -9223372036854775807 - 2 }}")]
    [InlineData("{{ 4294967296 * 4294967296 }}")]
    [InlineData("{{ 99999999999999999999 }}")]
    [InlineData("{{ 1e30 | int }}")]
    [InlineData("{{ [9223372036854775807, 1] | sum }}")]
    [InlineData("{{ (-9223372036854775807 - 1) // -1 }}")]
    public void Integers_beyond_64_bits_are_refused_by_name_not_wrapped(string template)
    {
        var e = Assert.Throws<JinjaException>(() => R(template));
        Assert.Equal(JinjaLimits.Integer, e.Limit);
    }

    [Fact]
    public void An_empty_chat_template_is_a_clean_error()
    {
        var e = Assert.Throws<DataException>(() => ChatTemplate.FromString("  \n", "m/tokenizer_config.json (chat_template)"));
        Assert.Contains("m/tokenizer_config.json (chat_template) is empty", e.Message);
    }

    [Theory]
    [InlineData("{{ 'abc'[::9223372036854775807] }}", "a")]
    [InlineData("{{ 'abc'[::-9223372036854775807] }}", "c")]
    [InlineData("{{ 'a b c'.split(' ', 9223372036854775807) }}", "['a', 'b', 'c']")]
    public void Extreme_but_valid_arguments_give_Pythons_result(string template, string python) => Assert.Equal(python, R(template));

    [Theory]
    [InlineData("{% break %}")]
    [InlineData("{{ {'a': 1} | tojson(indent=1000000000) }}")]
    [InlineData("{{ 5 is divisibleby 0 }}")]
    [InlineData("{{ (1e400) | int }}")]
    public void Operations_on_values_they_do_not_take_are_template_errors(string template)
    {
        var e = Assert.Throws<JinjaException>(() => R(template));
        Assert.StartsWith("t.jinja:1: ", e.Message);
    }
}
