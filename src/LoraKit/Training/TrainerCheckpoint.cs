using System.Text.Json;
using System.Text.Json.Serialization;
using LoraKit.IO;
using LoraKit.Lora;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraKit.Training;

/// <summary>Everything besides weights and optimizer moments that a bit-for-bit resume needs.</summary>
public sealed record TrainerState(long Step, long MicroBatchesConsumed, int Rank, double Alpha, double BaseValidationLoss, Tensor RngState, IReadOnlyList<EvalPoint> EvalPoints);

/// <summary>
/// The training checkpoint: <c>checkpoint/</c> holding the adapter (PEFT files), the optimizer state and
/// trainer_state.json. Written into a fresh folder and swapped in by renames, so a crash at any point
/// leaves the previous checkpoint (or the new one) whole.
/// </summary>
public static class TrainerCheckpoint
{
    private const string StateFile = "trainer_state.json";
    private const string OptimizerFile = "optimizer.bin";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private sealed record StateDto(long Step, long MicroBatchesConsumed, int Rank, double Alpha, double BaseValidationLoss, string RngState, List<EvalPoint> EvalPoints);

    public static string Write(string outputDir, nn.Module model, OptimizerHelper optimizer, string adapterName, string? baseModelName, TrainerState state)
    {
        var final = Path.Combine(outputDir, LoraTrainer.CheckpointFolderName);
        var temp = Path.Combine(outputDir, $".{LoraTrainer.CheckpointFolderName}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temp);
        try
        {
            LoraAdapterFiles.Save(model, adapterName, temp, baseModelName);
            optimizer.save_state_dict(Path.Combine(temp, OptimizerFile));
            var rng = state.RngState.data<byte>().ToArray();
            var dto = new StateDto(state.Step, state.MicroBatchesConsumed, state.Rank, state.Alpha, state.BaseValidationLoss, Convert.ToBase64String(rng), state.EvalPoints.ToList());
            File.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(dto, Json));
            // Swap: old → .old, new → checkpoint, drop old. A crash in between leaves a whole one that Find picks up.
            string? old = null;
            if (Directory.Exists(final))
            {
                old = Path.Combine(outputDir, $".{LoraTrainer.CheckpointFolderName}.{Guid.NewGuid():N}.old");
                Directory.Move(final, old);
            }
            Directory.Move(temp, final);
            if (old is not null) Directory.Delete(old, recursive: true);
            return final;
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>The checkpoint to resume from: checkpoint/, or a whole one left mid-swap; null when none.</summary>
    public static string? Find(string outputDir)
    {
        var final = Path.Combine(outputDir, LoraTrainer.CheckpointFolderName);
        if (File.Exists(Path.Combine(final, StateFile))) return final;
        if (!Directory.Exists(outputDir)) return null;
        return Directory.GetDirectories(outputDir, $".{LoraTrainer.CheckpointFolderName}.*.old")
            .Concat(Directory.GetDirectories(outputDir, $".{LoraTrainer.CheckpointFolderName}.*.tmp"))
            .Where(d => File.Exists(Path.Combine(d, StateFile)) && File.Exists(Path.Combine(d, OptimizerFile)))
            .OrderByDescending(d => ReadState(d).Step)
            .FirstOrDefault();
    }

    public static TrainerState ReadState(string checkpoint)
    {
        var path = Path.Combine(checkpoint, StateFile);
        StateDto dto;
        try
        {
            dto = JsonSerializer.Deserialize<StateDto>(File.ReadAllText(path), Json) ?? throw new JsonException("empty");
        }
        catch (JsonException e)
        {
            throw new TrainingException(Rules.DiagnosticIds.TrainingFailed, $"{path} is not a LoraKit trainer state ({e.Message}); delete the checkpoint folder to start over");
        }
        var rng = torch.tensor(Convert.FromBase64String(dto.RngState), dtype: ScalarType.Byte);
        return new TrainerState(dto.Step, dto.MicroBatchesConsumed, dto.Rank, dto.Alpha, dto.BaseValidationLoss, rng, dto.EvalPoints);
    }

    /// <summary>Copies the checkpoint's adapter weights and optimizer state into an injected model and its optimizer.</summary>
    public static void Restore(string checkpoint, nn.Module model, OptimizerHelper optimizer, string adapterName)
    {
        LoraAdapterFiles.LoadWeights(model, checkpoint, adapterName, problems => new TrainingException(Rules.DiagnosticIds.TrainingFailed,
            $"checkpoint {checkpoint} does not fit this run: {problems}; resume with the same targets and rank"));
        optimizer.load_state_dict(Path.Combine(checkpoint, OptimizerFile));
    }

    /// <summary>Drops metrics lines past <paramref name="step"/> (written after the checkpoint a run resumes from).</summary>
    public static void TruncateMetrics(string metricsPath, long step)
    {
        if (!File.Exists(metricsPath)) return;
        var kept = File.ReadAllLines(metricsPath).Where(line =>
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                return doc.RootElement.GetProperty("step").GetInt64() <= step;
            }
            catch (JsonException)
            {
                return false; // a line cut short by a crash
            }
        }).ToArray();
        AtomicFile.WriteAllBytes(metricsPath, System.Text.Encoding.UTF8.GetBytes(string.Concat(kept.Select(l => l + "\n"))));
    }
}
