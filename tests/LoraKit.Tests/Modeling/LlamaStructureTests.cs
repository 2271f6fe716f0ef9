using System;
using System.Collections.Generic;
using System.Linq;
using LoraKit.Modeling;
using LoraKit.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests.Modeling;

public class LlamaStructureTests
{
    /// <summary>The parameters (name → shape) ModelShape describes, plus the norms and embeddings it only counts.</summary>
    private static Dictionary<string, long[]> ExpectedParameters(LlamaDimensions d)
    {
        var shape = ModelShape.FromLlama("tiny", d);
        var expected = new Dictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["model.embed_tokens.weight"] = new long[] { d.VocabSize, d.HiddenSize },
            ["model.norm.weight"] = new long[] { d.HiddenSize },
        };
        foreach (var linear in shape.Linears)
            foreach (var path in linear.InstancePaths())
            {
                if (!linear.SharesWeight) expected[path + ".weight"] = new long[] { linear.OutFeatures, linear.InFeatures };
                if (linear.HasBias) expected[path + ".bias"] = new long[] { linear.OutFeatures };
            }
        for (var i = 0; i < d.Layers; i++)
        {
            expected[$"model.layers.{i}.input_layernorm.weight"] = new long[] { d.HiddenSize };
            expected[$"model.layers.{i}.post_attention_layernorm.weight"] = new long[] { d.HiddenSize };
            if (d.QkNorm)
            {
                expected[$"model.layers.{i}.self_attn.q_norm.weight"] = new long[] { d.EffectiveHeadDim };
                expected[$"model.layers.{i}.self_attn.k_norm.weight"] = new long[] { d.EffectiveHeadDim };
            }
        }
        return expected;
    }

    [Theory]
    [MemberData(nameof(TinyLlamas.Variants), MemberType = typeof(TinyLlamas))]
    public void Named_parameters_are_the_hugging_face_names_and_shapes(string variant)
    {
        var d = TinyLlamas.Get(variant);
        using var m = LlamaForCausalLM.Create(d);
        var actual = m.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        var expected = ExpectedParameters(d);

        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal), actual.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, shape) in expected)
            Assert.True(shape.SequenceEqual(actual[name]), $"{name}: expected [{string.Join(",", shape)}], got [{string.Join(",", actual[name])}]");

        // Spot checks of names the brief spells out.
        Assert.Contains("model.layers.0.self_attn.q_proj.weight", actual.Keys);
        Assert.Contains("model.layers.1.mlp.gate_proj.weight", actual.Keys);
        Assert.Equal(d.QkvBias, actual.ContainsKey("model.layers.0.self_attn.q_proj.bias"));
        Assert.Equal(!d.TieWordEmbeddings, actual.ContainsKey("lm_head.weight"));
    }

    [Theory]
    [MemberData(nameof(TinyLlamas.Variants), MemberType = typeof(TinyLlamas))]
    public void Unique_parameter_count_equals_model_shape_total(string variant)
    {
        var d = TinyLlamas.Get(variant);
        using var m = LlamaForCausalLM.Create(d);
        var total = ModelShape.FromLlama("tiny", d).TotalParameters;
        Assert.Equal(total, m.ParameterCount());
        Assert.Equal(total, m.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Parameters_are_in_hugging_face_module_order()
    {
        using var m = LlamaForCausalLM.Create(TinyLlamas.Qwen3);
        var names = m.named_parameters().Select(p => p.name).Take(8).ToArray();
        Assert.Equal(new[]
        {
            "model.embed_tokens.weight",
            "model.layers.0.self_attn.q_proj.weight",
            "model.layers.0.self_attn.k_proj.weight",
            "model.layers.0.self_attn.v_proj.weight",
            "model.layers.0.self_attn.o_proj.weight",
            "model.layers.0.self_attn.q_norm.weight",
            "model.layers.0.self_attn.k_norm.weight",
            "model.layers.0.mlp.gate_proj.weight",
        }, names);
        Assert.Equal("lm_head.weight", m.named_parameters().Last().name);
    }

    [Fact]
    public void Linear_slots_match_model_shape_paths_and_are_module_typed_fields()
    {
        var d = TinyLlamas.UntiedGqa;
        using var m = LlamaForCausalLM.Create(d);
        var slots = m.LinearSlots();
        var paths = ModelShape.FromLlama("tiny", d).Linears.SelectMany(l => l.InstancePaths()).OrderBy(p => p, StringComparer.Ordinal);
        Assert.Equal(paths, slots.Select(s => s.Path).OrderBy(p => p, StringComparer.Ordinal));
        foreach (var slot in slots)
        {
            var field = slot.Parent.GetType().GetField(slot.Name)!;
            Assert.Equal(typeof(nn.Module<Tensor, Tensor>), field.FieldType);
            Assert.Same(slot.Current, field.GetValue(slot.Parent));
        }
    }

    [Fact]
    public void Replacing_a_linear_keeps_names_and_order_and_forward_uses_the_replacement()
    {
        var d = TinyLlamas.UntiedGqa;
        using var m = LlamaForCausalLM.Create(d, seed: 3);
        var ids = TinyLlamas.Ids(d.VocabSize, 1, 1, 6);
        var before = m.forward(ids).detach();
        var namesBefore = m.named_parameters().Select(p => p.name).ToArray();

        var slot = m.LinearSlots().Single(s => s.Path == "model.layers.0.self_attn.v_proj");
        var replacement = nn.Linear(d.HiddenSize, d.KeyValueDim, hasBias: false);
        using (torch.no_grad()) replacement.weight!.zero_();
        slot.Replace(replacement);

        Assert.Same(replacement, m.model.layers[0].self_attn.v_proj);
        Assert.Equal(namesBefore, m.named_parameters().Select(p => p.name).ToArray());
        Assert.Same(replacement.weight, m.named_parameters().Single(p => p.name == "model.layers.0.self_attn.v_proj.weight").parameter);
        var after = m.forward(ids).detach();
        Assert.True(TinyLlamas.MaxAbsDiff(before, after) > 1e-4, "forward must go through the replaced field");
    }

    [Fact]
    public void Replacing_with_a_wrong_name_throws()
    {
        using var m = LlamaForCausalLM.Create(TinyLlamas.UntiedGqa);
        var ex = Assert.Throws<ArgumentException>(() => ModuleSurgery.ReplaceChild(m.model.layers[0].self_attn, "x_proj", nn.Linear(2, 2)));
        Assert.Contains("x_proj", ex.Message);
    }
}
