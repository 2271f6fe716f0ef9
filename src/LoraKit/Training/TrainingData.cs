using System.Collections.Generic;
using static TorchSharp.torch;

namespace LoraKit.Training;

/// <summary>A micro-batch: token ids, labels (-100 = no loss), attention mask, and the count of label tokens.</summary>
public sealed record TrainingBatch(Tensor InputIds, Tensor Labels, Tensor AttentionMask, long TokenCount);

/// <summary>What the trainer reads: deterministic per-epoch training batches and the validation batches.</summary>
public interface ITrainingData
{
    /// <summary>Micro-batches in one epoch.</summary>
    int TrainBatchesPerEpoch { get; }

    /// <summary>The training micro-batches of <paramref name="epoch"/>, in a deterministic order for a given seed.</summary>
    IEnumerable<TrainingBatch> TrainBatches(int epoch);

    IEnumerable<TrainingBatch> ValidationBatches();
}
