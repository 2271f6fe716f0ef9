using System.IO;
using LoraKit.Builtin;
using Xunit;

namespace LoraKit.Tests.Builtin;

public class BaseModelSourceTests
{
    [Theory]
    [InlineData("builtin:tiny")]
    [InlineData("builtin:llama")]
    public void A_builtin_name_other_than_builtin_is_refused_naming_the_one_builtin_base(string spec)
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => BaseModelSource.Open(spec));
        Assert.Contains($"'{spec}'", e.Message);
        Assert.Contains("there is one builtin base model, 'builtin'", e.Message);
    }
}
