extern alias analyzers;
using System.Threading.Tasks;
using Xunit;
using static LoraKit.Analyzers.Tests.CodeFixVerifier;
using AlphaFix = analyzers::LoraKit.Analyzers.CodeFixes.AlphaRatioCodeFixProvider;
using RankFix = analyzers::LoraKit.Analyzers.CodeFixes.RankPowerOfTwoCodeFixProvider;
using TargetFix = analyzers::LoraKit.Analyzers.CodeFixes.TargetModuleCodeFixProvider;
using GradientCheckpointingFix = analyzers::LoraKit.Analyzers.CodeFixes.GradientCheckpointingCodeFixProvider;

namespace LoraKit.Analyzers.Tests;

/// <summary>LORA1001/1003/1004 fixes; the markup names every diagnostic the analyzer reports before and after.</summary>
public class CodeFixTests
{
    private static string Src(string adapters) => Sources.WithModels(adapters);

    // ---- LORA1001 ----

    [Fact]
    public Task Gpu_memory_fix_turns_on_gradient_checkpointing() => VerifyFixAsync<GradientCheckpointingFix>(
        Src("""
            [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)|}]
            public partial class SupportAdapter;
            [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, GradientCheckpointing = LoraGradientCheckpointing.None)|}]
            public partial class Written;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, GradientCheckpointing = LoraGradientCheckpointing.On)]
            public partial class SupportAdapter;
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, GradientCheckpointing = LoraGradientCheckpointing.On)]
            public partial class Written;
            """), GradientCheckpointingFix.Title,
        "LoraKitGpuMemoryGiB=32", "LoraKitBatchSize=2", "LoraKitSequenceLength=2048");

    [Fact]
    public Task Gpu_memory_fix_is_not_offered_when_the_plan_is_not_checkpointing() => VerifyNoFixAsync<GradientCheckpointingFix>(Src("""
        [{|LORA1006:LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, GradientCheckpointing = LoraGradientCheckpointing.Offload, BatchSize = 64)|}]
        public partial class SupportAdapter;
        """), "LoraKitGpuMemoryGiB=16");

    [Fact]
    public Task Alpha_fix_sets_ratio_times_rank() => VerifyFixAsync<AlphaFix>(
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, {|LORA1001:Alpha = 8|}, Dropout = 0.05)]
            public partial class SupportAdapter;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, Dropout = 0.05)]
            public partial class SupportAdapter;
            """), AlphaFix.Title);

    [Fact]
    public Task Alpha_fix_adds_a_missing_alpha_after_the_rank() => VerifyFixAsync<AlphaFix>(
        Src("""
            [LoraAdapter(typeof(Llama2_7B), {|LORA1001:Rank = 16|}, Dropout = 0.05)]
            public partial class SupportAdapter;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32, Dropout = 0.05)]
            public partial class SupportAdapter;
            """), AlphaFix.Title);

    [Fact]
    public Task Alpha_fix_in_a_LoraConfig_initializer() => VerifyFixAsync<AlphaFix>(
        """
        using LoraKit;
        class Setup
        {
            LoraConfig Make() => new LoraConfig { Rank = 4, {|LORA1001:Alpha = 16.0|} };
            LoraConfig Other() => new LoraConfig { {|LORA1001:Rank = 32|} };
        }
        """,
        """
        using LoraKit;
        class Setup
        {
            LoraConfig Make() => new LoraConfig { Rank = 4, Alpha = 8 };
            LoraConfig Other() => new LoraConfig { Rank = 32, Alpha = 64 };
        }
        """, AlphaFix.Title);

    [Fact]
    public Task Alpha_fix_adds_alpha_to_a_LoraConfig_initializer() => VerifyFixAsync<AlphaFix>(
        """
        using LoraKit;
        class Setup
        {
            LoraConfig Other() => new LoraConfig { {|LORA1001:Rank = 32|}, Dropout = 0.1 };
        }
        """,
        """
        using LoraKit;
        class Setup
        {
            LoraConfig Other() => new LoraConfig { Rank = 32, Alpha = 64, Dropout = 0.1 };
        }
        """, AlphaFix.Title);

    [Fact]
    public Task Alpha_fix_all_fixes_every_adapter_of_the_document() => VerifyFixAsync<AlphaFix>(
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, {|LORA1001:Alpha = 8|})]
            public partial class A;
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, {|LORA1001:Alpha = 16|})]
            public partial class B;
            [LoraAdapter(typeof(Llama2_7B), {|LORA1001:Rank = 32|})]
            public partial class C;
            class Setup { LoraConfig D = new LoraConfig { Rank = 4, {|LORA1001:Alpha = 4|} }; }
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)]
            public partial class A;
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32)]
            public partial class B;
            [LoraAdapter(typeof(Llama2_7B), Rank = 32, Alpha = 64)]
            public partial class C;
            class Setup { LoraConfig D = new LoraConfig { Rank = 4, Alpha = 8 }; }
            """), AlphaFix.Title);

    // ---- LORA1003 ----

    [Fact]
    public Task Rank_fix_rounds_ties_up() => VerifyFixAsync<RankFix>(
        Src("""
            [LoraAdapter(typeof(Llama2_7B), {|LORA1003:Rank = 12|}, Alpha = 24)]
            public partial class A;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, {|LORA1001:Alpha = 24|})]
            public partial class A;
            """), RankFix.Title);

    [Fact]
    public Task Rank_fix_rounds_down_when_nearer() => VerifyFixAsync<RankFix>(
        """
        using LoraKit;
        class Setup { LoraConfig C = new LoraConfig { {|LORA1003:Rank = 5|}, Alpha = 10 }; }
        """,
        """
        using LoraKit;
        class Setup { LoraConfig C = new LoraConfig { Rank = 4, {|LORA1001:Alpha = 10|} }; }
        """, RankFix.Title);

    [Fact]
    public Task Rank_out_of_range_gets_no_fix() => VerifyNoFixAsync<RankFix>(
        """
        using LoraKit;
        class Setup { LoraConfig C = new LoraConfig { {|LORA1003:Rank = 0|} }; }
        """);

    // ---- LORA1004 ----

    [Fact]
    public Task Target_fix_uses_the_closest_module() => VerifyFixAsync<TargetFix>(
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", {|LORA1004:"v_prj"|} })]
            public partial class A;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", "v_proj" })]
            public partial class A;
            """), "Use 'v_proj'");

    [Fact]
    public Task Target_fix_completes_a_truncated_name() => VerifyFixAsync<TargetFix>(
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj", {|LORA1004:"gate"|} })]
            public partial class A;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj", "gate_proj" })]
            public partial class A;
            """), "Use 'gate_proj'");

    [Fact]
    public Task Target_far_from_every_module_gets_no_fix() => VerifyNoFixAsync<TargetFix>(
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", {|LORA1004:"embeddings_everywhere"|} })]
            public partial class A;
            """));
}
