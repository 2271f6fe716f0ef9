using System.Linq;
using LoraKit.Models;
using Xunit;

namespace LoraKit.Core.Tests;

/// <summary>PEFT's matching of a list of target names: exact, or a suffix after a dot.</summary>
public class TargetMatcherTests
{
    private static readonly ModelShape Model = ModelShape.FromLlama("m", new LlamaDimensions
    {
        HiddenSize = 32, IntermediateSize = 64, Layers = 3, AttentionHeads = 4, VocabSize = 50,
    });

    [Theory]
    [InlineData("model.layers.0.self_attn.q_proj", "q_proj", true)]
    [InlineData("model.layers.0.self_attn.q_proj", "self_attn.q_proj", true)]
    [InlineData("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.q_proj", true)]
    [InlineData("model.layers.0.self_attn.q_proj", "proj", false)]     // not a whole segment
    [InlineData("model.layers.0.self_attn.q_proj", "_proj", false)]
    [InlineData("model.layers.0.self_attn.q_proj", "attn.q_proj", false)] // "self_attn" ≠ "attn"
    [InlineData("model.layers.10.self_attn.q_proj", "0.self_attn.q_proj", false)]
    [InlineData("lm_head", "lm_head", true)]
    public void Matches_like_peft(string path, string target, bool expected) =>
        Assert.Equal(expected, TargetMatcher.Matches(path, target));

    [Fact]
    public void Saved_targets_expand_all_linear_into_the_matched_leaf_names_sorted()
    {
        var match = TargetMatcher.Match(Model, new[] { LoraConfig.AllLinear });
        var saved = TargetMatcher.SavedTargetNames(new[] { LoraConfig.AllLinear }, match.Modules.Select(m => m.Path));
        // PEFT's expansion: the last name of every linear module but the output head (lm_head).
        Assert.Equal(new[] { "down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj" }, saved);
    }

    [Fact]
    public void Saved_targets_keep_given_names_distinct_and_sorted()
    {
        var targets = new[] { "v_proj", "self_attn.q_proj", "v_proj" };
        var match = TargetMatcher.Match(Model, targets);
        Assert.Equal(new[] { "self_attn.q_proj", "v_proj" }, TargetMatcher.SavedTargetNames(targets, match.Modules.Select(m => m.Path)));
    }

    [Fact]
    public void A_layer_qualified_target_adapts_one_layer()
    {
        var match = TargetMatcher.Match(Model, new[] { "layers.1.self_attn.v_proj" });
        Assert.Equal(new[] { "model.layers.1.self_attn.v_proj" }, match.Modules.Select(m => m.Path));
    }

    [Fact]
    public void All_linear_takes_every_projection_but_not_the_head()
    {
        var match = TargetMatcher.Match(Model, new[] { LoraConfig.AllLinear });
        Assert.Equal(3 * 7, match.Modules.Count);
        Assert.DoesNotContain(match.Modules, m => m.Path == "lm_head");
        Assert.Empty(match.Unmatched);
    }

    [Fact]
    public void Targets_that_match_nothing_are_reported_even_when_others_match()
    {
        var match = TargetMatcher.Match(Model, new[] { "q_proj", "v_porj", "c_attn" });
        Assert.Equal(new[] { "v_porj", "c_attn" }, match.Unmatched);
        Assert.Equal(3, match.HitsPerTarget["q_proj"]);
        Assert.Equal(3, match.Modules.Count);
    }

    [Fact]
    public void A_module_matched_by_two_targets_counts_once()
    {
        var match = TargetMatcher.Match(Model, new[] { "q_proj", "self_attn.q_proj" });
        Assert.Equal(3, match.Modules.Count);
    }

    /// <summary>
    /// Match decides digit-free target lists once per layer family; with a digit anywhere in the list it
    /// checks every instance path. Both must agree with PEFT's rule applied to each path, as spelt out here.
    /// </summary>
    [Theory]
    [InlineData("q_proj", "v_proj")]
    [InlineData("self_attn.q_proj", "mlp.down_proj", "lm_head")]
    [InlineData("proj", "_proj", "attn.q_proj", "layers.self_attn.q_proj")]
    [InlineData("model.layers", "self_attn", "model.norm")]
    [InlineData("q_proj", "layers.1.self_attn.q_proj")]
    [InlineData("0.self_attn.q_proj", "2.mlp.up_proj", "model.layers.10.self_attn.q_proj")]
    [InlineData("all-linear", "lm_head")]
    public void Match_agrees_with_the_rule_applied_to_every_instance_path(params string[] targets)
    {
        // 12 blocks, so indexes 1 and 10 both exist (a suffix "0.self_attn.q_proj" must not match block 10).
        var model = ModelShape.FromLlama("m12", new LlamaDimensions { HiddenSize = 32, IntermediateSize = 64, Layers = 12, AttentionHeads = 4, VocabSize = 50 });
        var expected = model.Linears
            .SelectMany(l => l.InstancePaths().Select(p => (Layer: l, Path: p)))
            .Select(x => (x.Path, Hits: targets.Where(t => t == LoraConfig.AllLinear ? !x.Layer.IsOutputHead : TargetMatcher.Matches(x.Path, t)).ToArray()))
            .ToArray();
        var match = TargetMatcher.Match(model, targets);
        Assert.Equal(expected.Where(x => x.Hits.Length > 0).Select(x => x.Path), match.Modules.Select(m => m.Path));
        foreach (var t in targets)
            Assert.Equal(expected.Count(x => x.Hits.Contains(t)), match.HitsPerTarget[t]);

        // The injector's matcher over a loaded model's module paths (LoraInjector) gives the same answer.
        var byPath = TargetMatcher.Match(expected.Select(x => x.Path).ToArray(), targets, "lm_head");
        Assert.Equal(expected.Where(x => x.Hits.Length > 0).Select(x => x.Path), byPath.Paths);
        foreach (var t in targets)
            Assert.Equal(expected.Count(x => x.Hits.Contains(t)), byPath.HitsPerTarget[t]);
        Assert.Equal(match.Unmatched, byPath.Unmatched);
    }

    [Theory]
    [InlineData("q_porj", "q_proj")]
    [InlineData("vproj", "v_proj")]
    [InlineData("self_attn.o_prj", "o_proj")]
    [InlineData("gate", "gate_proj")]
    [InlineData("encoder_attention_query", null)]
    public void Suggests_the_closest_existing_module(string typo, string? expected) =>
        Assert.Equal(expected, TargetMatcher.SuggestClosest(Model, typo));
}
