extern alias analyzers;
using System.Threading.Tasks;
using Xunit;
using static LoraKit.Analyzers.Tests.CodeFixVerifier;
using AlphaFix = analyzers::LoraKit.Analyzers.CodeFixes.AlphaRatioCodeFixProvider;
using RankFix = analyzers::LoraKit.Analyzers.CodeFixes.RankPowerOfTwoCodeFixProvider;
using TargetFix = analyzers::LoraKit.Analyzers.CodeFixes.TargetModuleCodeFixProvider;

namespace LoraKit.Analyzers.Tests;

public class CodeFixTests
{
    private static string Src(string adapters) => Sources.WithModels(adapters);

    // ---- LORA1001 ----

    [Fact]
    public Task Alpha_fix_sets_ratio_times_rank() => VerifyFixAsync(new AlphaFix(), "LORA1001",
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 8, Dropout = 0.05)]
            public partial class SupportAdapter;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, Dropout = 0.05)]
            public partial class SupportAdapter;
            """));

    [Fact]
    public Task Alpha_fix_adds_a_missing_alpha_after_the_rank() => VerifyFixAsync(new AlphaFix(), "LORA1001",
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Dropout = 0.05)]
            public partial class SupportAdapter;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32, Dropout = 0.05)]
            public partial class SupportAdapter;
            """));

    [Fact]
    public Task Alpha_fix_in_a_LoraConfig_initializer() => VerifyFixAsync(new AlphaFix(), "LORA1001",
        """
        using LoraKit;
        class Setup
        {
            LoraConfig Make() => new LoraConfig { Rank = 4, Alpha = 16.0 };
            LoraConfig Other() => new LoraConfig { Rank = 32 };
        }
        """,
        """
        using LoraKit;
        class Setup
        {
            LoraConfig Make() => new LoraConfig { Rank = 4, Alpha = 8 };
            LoraConfig Other() => new LoraConfig { Rank = 32 };
        }
        """);

    [Fact]
    public Task Alpha_fix_adds_alpha_to_a_LoraConfig_initializer() => VerifyFixAsync(new AlphaFix(), "LORA1001",
        """
        using LoraKit;
        class Setup
        {
            LoraConfig Other() => new LoraConfig { Rank = 32, Dropout = 0.1 };
        }
        """,
        """
        using LoraKit;
        class Setup
        {
            LoraConfig Other() => new LoraConfig { Rank = 32, Alpha = 64, Dropout = 0.1 };
        }
        """);

    [Fact]
    public Task Alpha_fix_all_fixes_every_adapter_of_the_document() => VerifyFixAllAsync(new AlphaFix(), "LORA1001", AlphaFix.Title,
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 8)]
            public partial class A;
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 16)]
            public partial class B;
            [LoraAdapter(typeof(Llama2_7B), Rank = 32)]
            public partial class C;
            class Setup { LoraConfig D = new LoraConfig { Rank = 4, Alpha = 4 }; }
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16)]
            public partial class A;
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32)]
            public partial class B;
            [LoraAdapter(typeof(Llama2_7B), Rank = 32, Alpha = 64)]
            public partial class C;
            class Setup { LoraConfig D = new LoraConfig { Rank = 4, Alpha = 8 }; }
            """));

    // ---- LORA1003 ----

    [Fact]
    public Task Rank_fix_rounds_ties_up() => VerifyFixAsync(new RankFix(), "LORA1003",
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 12, Alpha = 24)]
            public partial class A;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 24)]
            public partial class A;
            """));

    [Fact]
    public Task Rank_fix_rounds_down_when_nearer() => VerifyFixAsync(new RankFix(), "LORA1003",
        """
        using LoraKit;
        class Setup { LoraConfig C = new LoraConfig { Rank = 5, Alpha = 10 }; }
        """,
        """
        using LoraKit;
        class Setup { LoraConfig C = new LoraConfig { Rank = 4, Alpha = 10 }; }
        """);

    [Fact]
    public Task Rank_out_of_range_gets_no_fix() => VerifyNoFixAsync(new RankFix(), "LORA1003",
        """
        using LoraKit;
        class Setup { LoraConfig C = new LoraConfig { Rank = 0 }; }
        """);

    // ---- LORA1004 ----

    [Fact]
    public Task Target_fix_uses_the_closest_module() => VerifyFixAsync(new TargetFix(), "LORA1004",
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", "v_prj" })]
            public partial class A;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", "v_proj" })]
            public partial class A;
            """));

    [Fact]
    public Task Target_fix_completes_a_truncated_name() => VerifyFixAsync(new TargetFix(), "LORA1004",
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj", "gate" })]
            public partial class A;
            """),
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 8, Alpha = 16, TargetModules = new[] { "q_proj", "v_proj", "gate_proj" })]
            public partial class A;
            """));

    [Fact]
    public Task Target_far_from_every_module_gets_no_fix() => VerifyNoFixAsync(new TargetFix(), "LORA1004",
        Src("""
            [LoraAdapter(typeof(Llama2_7B), Rank = 16, Alpha = 32, TargetModules = new[] { "q_proj", "embeddings_everywhere" })]
            public partial class A;
            """));
}
