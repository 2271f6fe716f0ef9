using System.Text.Json;
using System.Text.Unicode;
using LoraKit.IO;

namespace LoraKit.SafeTensors;

/// <summary>Parses and validates a safetensors header against the size of the data section.</summary>
internal static class SafeTensorsHeader
{
    /// <summary>The largest header accepted, as in the reference implementation (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    public static (List<SafeTensorInfo> Tensors, Dictionary<string, string> Metadata) Parse(
        ReadOnlyMemory<byte> header, long dataLength, string file)
    {
        if (!Utf8.IsValid(header.Span))
            throw new SafeTensorsFormatException(file, null, "the header is not valid UTF-8.");

        JsonDuplicateKeys.Duplicate? duplicate;
        try
        {
            duplicate = JsonDuplicateKeys.Find(header.Span);
        }
        catch (JsonException ex)
        {
            throw new SafeTensorsFormatException(file, null, $"the header is not valid JSON ({ex.Message}).", ex);
        }
        if (duplicate is { } dup)
        {
            // A repeated tensor name, or a repeated key inside one tensor's entry / the metadata.
            if (dup.Path.Count == 0)
                throw new SafeTensorsFormatException(file, dup.Key == MetadataKey ? null : dup.Key,
                    $"the header names '{dup.Key}' more than once (duplicate key).");
            var owner = dup.Path[0];
            throw new SafeTensorsFormatException(file, owner == MetadataKey ? null : owner,
                $"duplicate key '{dup.Key}' in the entry of '{owner}'.");
        }

        using var doc = ParseDocument(header, file);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(file, null, $"the header must be a JSON object, not {JsonKinds.Describe(root.ValueKind)}.");

        var tensors = new List<SafeTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name == MetadataKey)
            {
                ReadMetadata(property.Value, file, metadata);
                continue;
            }
            tensors.Add(ReadTensor(property.Name, property.Value, dataLength, file));
        }

        CheckTiling(tensors, dataLength, file);
        return (tensors, metadata);
    }

    private static JsonDocument ParseDocument(ReadOnlyMemory<byte> header, string file)
    {
        try
        {
            return JsonDocument.Parse(header, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException ex)
        {
            throw new SafeTensorsFormatException(file, null, $"the header is not valid JSON ({ex.Message}).", ex);
        }
    }

    private static void ReadMetadata(JsonElement value, string file, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(file, null, $"'{MetadataKey}' must be an object mapping strings to strings, not {JsonKinds.Describe(value.ValueKind)}.");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new SafeTensorsFormatException(file, null,
                    $"'{MetadataKey}' must map strings to strings, but its key '{entry.Name}' holds {JsonKinds.Describe(entry.Value.ValueKind)}.");
            metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    private static SafeTensorInfo ReadTensor(string name, JsonElement entry, long dataLength, string file)
    {
        if (entry.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(file, name, $"the header entry must be an object with dtype, shape and data_offsets, not {JsonKinds.Describe(entry.ValueKind)}.");

        if (!entry.TryGetProperty("dtype", out var dtypeElement))
            throw new SafeTensorsFormatException(file, name, "the header entry lacks 'dtype'.");
        if (!entry.TryGetProperty("shape", out var shapeElement))
            throw new SafeTensorsFormatException(file, name, "the header entry lacks 'shape'.");
        if (!entry.TryGetProperty("data_offsets", out var offsetsElement))
            throw new SafeTensorsFormatException(file, name, "the header entry lacks 'data_offsets'.");

        if (dtypeElement.ValueKind != JsonValueKind.String || !SafeTensorDTypes.TryParse(dtypeElement.GetString(), out var dtype))
        {
            var shown = dtypeElement.ValueKind == JsonValueKind.String ? $"'{dtypeElement.GetString()}'" : dtypeElement.GetRawText();
            throw new SafeTensorsFormatException(file, name,
                $"unknown or unsupported dtype {shown}; supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL.");
        }

        if (shapeElement.ValueKind != JsonValueKind.Array)
            throw new SafeTensorsFormatException(file, name, $"'shape' must be an array of non-negative integers, not {JsonKinds.Describe(shapeElement.ValueKind)}.");
        var shape = new long[shapeElement.GetArrayLength()];
        var i = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out var d))
                throw new SafeTensorsFormatException(file, name, $"'shape' dimension {i} is {dim.GetRawText()}, not an integer.");
            if (d < 0)
                throw new SafeTensorsFormatException(file, name, $"'shape' dimension {i} is negative ({d}).");
            shape[i++] = d;
        }

        if (offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
            throw new SafeTensorsFormatException(file, name, $"'data_offsets' must be an array of two integers [begin, end], not {offsetsElement.GetRawText()}.");
        var begin = ReadOffset(offsetsElement[0], "begin", name, file);
        var end = ReadOffset(offsetsElement[1], "end", name, file);
        if (begin > end)
            throw new SafeTensorsFormatException(file, name, $"'data_offsets' begin {begin} is greater than end {end}.");
        if (end > dataLength)
            throw new SafeTensorsFormatException(file, name,
                $"'data_offsets' end {end} lies beyond the data section, which holds {dataLength} bytes (truncated file?).");

        long elements = 1;
        long bytes;
        try
        {
            foreach (var d in shape) elements = checked(elements * d);
            bytes = checked(elements * dtype.ElementSize());
        }
        catch (OverflowException)
        {
            throw new SafeTensorsFormatException(file, name, $"shape [{string.Join(", ", shape)}] overflows a 64-bit byte count.");
        }
        if (bytes != end - begin)
            throw new SafeTensorsFormatException(file, name,
                $"shape [{string.Join(", ", shape)}] of {dtype.HeaderName()} needs {bytes} bytes, but data_offsets [{begin}, {end}] span {end - begin}.");

        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    private static long ReadOffset(JsonElement element, string which, string name, string file)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out var value))
            throw new SafeTensorsFormatException(file, name, $"'data_offsets' {which} is {element.GetRawText()}, not an integer.");
        if (value < 0)
            throw new SafeTensorsFormatException(file, name, $"'data_offsets' {which} is negative ({value}).");
        return value;
    }

    /// <summary>The spans, in offset order, must tile [0, dataLength) exactly: no overlap, no hole.</summary>
    private static void CheckTiling(List<SafeTensorInfo> tensors, long dataLength, string file)
    {
        var ordered = tensors.ToArray();
        Array.Sort(ordered, (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long covered = 0;
        SafeTensorInfo? previous = null;
        foreach (var t in ordered)
        {
            if (t.Begin < covered)
                throw new SafeTensorsFormatException(file, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] overlap those of '{previous!.Name}' [{previous.Begin}, {previous.End}].");
            if (t.Begin > covered)
                throw new SafeTensorsFormatException(file, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] leave a hole: bytes [{covered}, {t.Begin}) of the data section belong to no tensor.");
            covered = t.End;
            previous = t;
        }
        if (covered != dataLength)
            throw new SafeTensorsFormatException(file, previous?.Name,
                $"the tensors cover {covered} bytes but the data section holds {dataLength}: bytes [{covered}, {dataLength}) belong to no tensor (hole at the end).");
    }
}
