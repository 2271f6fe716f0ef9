using LoraKit.Data;

namespace LoraKit.Training;

/// <summary>What the trainer reads: deterministic per-epoch training batches and the validation batches. The trainer disposes each batch.</summary>
public interface ITrainingData
{
    /// <summary>Micro-batches in one epoch.</summary>
    int TrainBatchesPerEpoch { get; }

    /// <summary>The training micro-batches of <paramref name="epoch"/>, in a deterministic order for a given seed.</summary>
    IEnumerable<Batch> TrainBatches(int epoch);

    IEnumerable<Batch> ValidationBatches();
}

/// <summary>Train and validation <see cref="TokenizedDataset"/>s as trainer input: shuffled per epoch by seed + epoch.</summary>
public sealed class TokenizedTrainingData : ITrainingData
{
    private readonly TokenizedDataset _train;
    private readonly TokenizedDataset _validation;
    private readonly int _batchSize;
    private readonly long _seed;

    public TokenizedTrainingData(TokenizedDataset train, TokenizedDataset validation, int batchSize, long seed)
    {
        if (batchSize < 1) throw new System.ArgumentOutOfRangeException(nameof(batchSize), $"batch size must be at least 1, not {batchSize}");
        // A split that scores no token would report a validation loss of NaN (or train on nothing) and still "succeed".
        if (train.TargetTokenCount == 0)
            throw new LoraKit.Data.DataException(
                $"the training split ({train.RowCount} rows of {train.SequenceLength} tokens) has no token to train on: every example's target was cut off by the sequence length or is empty; " +
                "raise --seq-len, shorten the prompts, or check the data");
        if (validation.TargetTokenCount == 0)
            throw new LoraKit.Data.DataException(
                $"the validation split ({validation.RowCount} rows of {validation.SequenceLength} tokens) has no token to score, so validation loss — how LoraKit checks training — cannot be measured; " +
                "raise --val-fraction, raise --seq-len, or check the data");
        _train = train;
        _validation = validation;
        _batchSize = batchSize;
        _seed = seed;
    }

    public int TrainBatchesPerEpoch => (_train.RowCount + _batchSize - 1) / _batchSize;

    public IEnumerable<Batch> TrainBatches(int epoch) => _train.Batches(_batchSize, shuffle: true, seed: _seed + epoch);

    public IEnumerable<Batch> ValidationBatches() => _validation.Batches(_batchSize, shuffle: false, seed: 0);
}
