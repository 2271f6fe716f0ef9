using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LoraKit.Tests;

/// <summary>
/// TorchSharp must run from the normal build output on this machine: on Debian 12 / Ubuntu 22.04 that
/// only works because the native-compat build step patched libLibTorchSharp.so in bin/.
/// </summary>
public class TorchSharpLoadsTests
{
    [Fact]
    public void Linear_forward_and_backward_run_on_cpu()
    {
        torch.manual_seed(1234);
        var linear = nn.Linear(4, 3);
        var x = torch.tensor(new float[] { 1, 2, 3, 4, -1, 0, 1, 2 }, new long[] { 2, 4 });

        var y = linear.forward(x);
        var loss = y.pow(2).sum();
        loss.backward();

        // Check forward against the same arithmetic done by hand from the layer's weights.
        var w = linear.weight!.detach();
        var b = linear.bias!.detach();
        var expected = x.matmul(w.t()) + b;
        Assert.True(torch.allclose(y.detach(), expected, rtol: 1e-5, atol: 1e-6));

        // d(sum y²)/dW = 2·yᵀ·x, d/db = 2·Σ y.
        var gradW = linear.weight!.grad!;
        Assert.True(torch.allclose(gradW, (y.detach() * 2.0f).t().matmul(x), rtol: 1e-5, atol: 1e-5));
        Assert.True(torch.allclose(linear.bias!.grad!, (y.detach() * 2.0f).sum(dim: 0L), rtol: 1e-5, atol: 1e-5));
        Assert.Equal(DeviceType.CPU, y.device_type);
    }
}
