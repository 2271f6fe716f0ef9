namespace LoraKit.Sweep;

/// <summary>
/// The rank guide: "Plot rank vs. validation_metric and rank vs. training_time" — one image, validation loss on
/// the left axis, training time on the right, ranks on a log₂ axis, the chosen rank marked.
/// </summary>
public static class SweepPlot
{
    public static void Write(string path, IReadOnlyList<TrialResult> trials, SweepDecision decision)
    {
        var ordered = trials.OrderBy(t => t.Rank).ToArray();
        var x = ordered.Select(t => Math.Log2(t.Rank)).ToArray();
        var labels = ordered.Select(t => t.Rank.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

        var plot = new ScottPlot.Plot();
        var loss = plot.Add.Scatter(x, ordered.Select(t => t.ValidationLoss).ToArray());
        loss.LegendText = "validation loss (left)";
        var time = plot.Add.Scatter(x, ordered.Select(t => t.Seconds).ToArray());
        time.LegendText = "training time, s (right)";
        time.Axes.YAxis = plot.Axes.Right;
        time.LinePattern = ScottPlot.LinePattern.Dotted;
        var chosen = plot.Add.VerticalLine(Math.Log2(decision.Chosen.Rank));
        chosen.LegendText = $"chosen r={decision.Chosen.Rank}";
        chosen.LinePattern = ScottPlot.LinePattern.Dashed;

        plot.Title("Rank sweep: validation loss and training time by rank");
        plot.XLabel("rank");
        plot.Axes.Left.Label.Text = "validation loss";
        plot.Axes.Right.Label.Text = "training time (s)";
        plot.Axes.Bottom.SetTicks(x, labels);
        plot.ShowLegend();

        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + "." + Guid.NewGuid().ToString("N") + ".tmp.png";
        plot.SavePng(temp, 900, 450);
        File.Move(temp, full, overwrite: true);
    }
}
