using System;
using System.Collections.Generic;
using System.Linq;
using LoraKit.Data;
using LoraKit.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraKit.Tests.Training;

/// <summary>
/// Token sequences that follow a rule (next = (prev + step) mod <c>modulus</c>, over the first
/// <c>modulus</c> token ids), so a low-rank adapter on a random base can learn them: loss falls far
/// when training works. Deterministic shuffling per epoch.
/// </summary>
internal sealed class SyntheticData : ITrainingData
{
    private readonly long[][] _train;
    private readonly long[][] _validation;
    private readonly int _batchSize;
    private readonly long _seed;

    public SyntheticData(int modulus, int trainSequences, int validationSequences, int length, int batchSize, long seed = 1, int trainStep = 1, int validationStep = 1)
    {
        var rng = new Random((int)seed);
        _train = Enumerable.Range(0, trainSequences).Select(_ => Sequence(rng.Next(modulus), length, modulus, trainStep)).ToArray();
        _validation = Enumerable.Range(0, validationSequences).Select(_ => Sequence(rng.Next(modulus), length, modulus, validationStep)).ToArray();
        _batchSize = batchSize;
        _seed = seed;
    }

    /// <summary>Given sequences (all the same length).</summary>
    public SyntheticData(long[][] train, long[][] validation, int batchSize, long seed = 1)
    {
        _train = train;
        _validation = validation;
        _batchSize = batchSize;
        _seed = seed;
    }

    private static long[] Sequence(int start, int length, int vocab, int step) =>
        Enumerable.Range(0, length).Select(i => (long)(((start + step * i) % vocab + vocab) % vocab)).ToArray();

    public int TrainBatchesPerEpoch => (_train.Length + _batchSize - 1) / _batchSize;

    public IEnumerable<Batch> TrainBatches(int epoch)
    {
        var order = Enumerable.Range(0, _train.Length).ToArray();
        new Random(unchecked((int)(_seed * 7919 + epoch))).Shuffle(order);
        return Batches(order.Select(i => _train[i]).ToArray());
    }

    public IEnumerable<Batch> ValidationBatches() => Batches(_validation);

    private IEnumerable<Batch> Batches(long[][] rows)
    {
        for (var i = 0; i < rows.Length; i += _batchSize)
        {
            var chunk = rows.Skip(i).Take(_batchSize).ToArray();
            var flat = chunk.SelectMany(r => r).ToArray();
            var shape = new long[] { chunk.Length, chunk[0].Length };
            var ids = torch.tensor(flat, shape);
            yield return new Batch(ids, ids.clone(), torch.ones(shape, dtype: ScalarType.Int64), chunk.Length * (chunk[0].Length - 1L));
        }
    }
}
