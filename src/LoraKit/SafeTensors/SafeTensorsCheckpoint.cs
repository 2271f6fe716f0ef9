using System.Collections.ObjectModel;
using System.Text.Json;
using TorchSharp;
using LoraKit.IO;

namespace LoraKit.SafeTensors;

/// <summary>
/// A checkpoint of one or more safetensors files, as Hugging Face saves models: a single
/// <c>model.safetensors</c>, or shards listed by <c>model.safetensors.index.json</c>
/// (<c>{"metadata": {...}, "weight_map": {tensor name: shard file name}}</c>). Every shard is opened
/// and validated, and every tensor of the weight map is checked to be in its shard, on <see cref="Open"/>.
/// </summary>
public sealed class SafeTensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafeTensorsFile> _shardOf;
    private readonly List<SafeTensorsFile> _files;

    private SafeTensorsCheckpoint(string path, string? indexPath, List<SafeTensorsFile> files,
        Dictionary<string, SafeTensorsFile> shardOf, List<string> names, Dictionary<string, string> indexMetadata)
    {
        Path = path;
        IndexPath = indexPath;
        _files = files;
        _shardOf = shardOf;
        Names = names.AsReadOnly();
        IndexMetadata = new ReadOnlyDictionary<string, string>(indexMetadata);
        Files = files.AsReadOnly();
    }

    /// <summary>The folder or file the checkpoint was opened from (full path).</summary>
    public string Path { get; }

    /// <summary>The index file of a sharded checkpoint, or null for a single file.</summary>
    public string? IndexPath { get; }

    /// <summary>The open safetensors files: one, or each shard once, in the index's order of first use.</summary>
    public IReadOnlyList<SafeTensorsFile> Files { get; }

    /// <summary>The tensor names: the index's weight map keys in order, or the single file's tensors in header order.</summary>
    public IReadOnlyCollection<string> Names { get; }

    /// <summary>
    /// The index's <c>metadata</c> object (string values as they are, other values as raw JSON text, e.g.
    /// <c>total_size</c>); empty for a single file (see <see cref="SafeTensorsFile.Metadata"/> there).
    /// </summary>
    public IReadOnlyDictionary<string, string> IndexMetadata { get; }

    /// <summary>
    /// Opens a folder holding <c>model.safetensors</c> (preferred when both exist) or
    /// <c>model.safetensors.index.json</c>, a <c>*.safetensors</c> file, or an index file.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder or file does not exist, or the folder holds neither file.</exception>
    /// <exception cref="SafeTensorsFormatException">A file is malformed, a shard is missing or lies outside the folder, or a tensor is not in its shard.</exception>
    public static SafeTensorsCheckpoint Open(string folderOrFile)
    {
        ArgumentNullException.ThrowIfNull(folderOrFile);
        var full = System.IO.Path.GetFullPath(folderOrFile);
        if (Directory.Exists(full))
        {
            var single = System.IO.Path.Combine(full, SingleFileName);
            if (File.Exists(single)) return OpenSingle(full, single);
            var index = System.IO.Path.Combine(full, IndexFileName);
            if (File.Exists(index)) return OpenIndex(full, index);
            throw new FileNotFoundException(
                $"Folder '{full}' holds neither '{SingleFileName}' nor '{IndexFileName}'; pass the folder of a Hugging Face safetensors checkpoint or one of its files.",
                single);
        }
        if (!File.Exists(full))
            throw new FileNotFoundException($"Checkpoint '{full}' does not exist.", full);
        return full.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? OpenIndex(full, full) : OpenSingle(full, full);
    }

    private static SafeTensorsCheckpoint OpenSingle(string path, string file)
    {
        var st = SafeTensorsFile.Open(file);
        var shardOf = st.Tensors.ToDictionary(t => t.Name, _ => st, StringComparer.Ordinal);
        return new SafeTensorsCheckpoint(path, null, new List<SafeTensorsFile> { st }, shardOf,
            st.Tensors.Select(t => t.Name).ToList(), new Dictionary<string, string>());
    }

    private static SafeTensorsCheckpoint OpenIndex(string path, string indexPath)
    {
        var (weightMap, metadata) = ReadIndex(indexPath);
        var folder = System.IO.Path.GetDirectoryName(indexPath)!;
        var files = new List<SafeTensorsFile>();
        var byShardName = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        var shardOf = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, shard) in weightMap)
            {
                if (!byShardName.TryGetValue(shard, out var file))
                {
                    var shardPath = ResolveShard(folder, shard, indexPath, name);
                    if (!File.Exists(shardPath))
                        throw new SafeTensorsFormatException(shardPath, name,
                            $"the shard file does not exist; the index '{indexPath}' maps the tensor to '{shard}'.");
                    file = SafeTensorsFile.Open(shardPath);
                    files.Add(file);
                    byShardName.Add(shard, file);
                }
                if (!file.Contains(name))
                    throw new SafeTensorsFormatException(file.Path, name,
                        $"the index '{indexPath}' maps the tensor to this shard, but the shard does not contain it.");
                shardOf.Add(name, file);
            }
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return new SafeTensorsCheckpoint(path, indexPath, files, shardOf, weightMap.Select(kv => kv.Key).ToList(), metadata);
    }

    private static string ResolveShard(string folder, string shard, string indexPath, string tensor)
    {
        var escapes = shard.Length == 0 || System.IO.Path.IsPathRooted(shard) || shard.Contains('\0');
        string? full = null;
        if (!escapes)
        {
            full = System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, shard));
            var prefix = folder.EndsWith(System.IO.Path.DirectorySeparatorChar) ? folder : folder + System.IO.Path.DirectorySeparatorChar;
            escapes = !full.StartsWith(prefix, StringComparison.Ordinal);
        }
        if (escapes)
            throw new SafeTensorsFormatException(indexPath, tensor,
                $"the weight map names shard '{shard}', which lies outside the checkpoint folder '{folder}'; shard names must be file names inside it.");
        return full!;
    }

    private static (List<KeyValuePair<string, string>> WeightMap, Dictionary<string, string> Metadata) ReadIndex(string indexPath)
    {
        var bytes = InputFile.ReadAllBytes(indexPath, InputLimits.JsonFileBytes, "safetensors index");
        JsonDuplicateKeys.Duplicate? duplicate;
        try
        {
            duplicate = JsonDuplicateKeys.Find(bytes);
        }
        catch (JsonException ex)
        {
            throw new SafeTensorsFormatException(indexPath, null, $"the index is not valid JSON ({ex.Message}).", ex);
        }
        if (duplicate is { } dup)
            throw new SafeTensorsFormatException(indexPath, dup.Path.Count == 1 && dup.Path[0] == "weight_map" ? dup.Key : null,
                $"the index names '{dup.Key}' more than once (duplicate key{(dup.Path.Count > 0 ? $" in '{string.Join(".", dup.Path)}'" : "")}).");

        using var doc = JsonDocument.Parse(bytes);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(indexPath, null, $"the index must be a JSON object, not {JsonKinds.Describe(root.ValueKind)}.");
        if (!root.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(indexPath, null, "the index lacks a 'weight_map' object mapping tensor names to shard files.");

        var weightMap = new List<KeyValuePair<string, string>>();
        foreach (var entry in map.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new SafeTensorsFormatException(indexPath, entry.Name,
                    $"'weight_map' must map the tensor to a shard file name, not {JsonKinds.Describe(entry.Value.ValueKind)}.");
            weightMap.Add(new KeyValuePair<string, string>(entry.Name, entry.Value.GetString()!));
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("metadata", out var meta) && meta.ValueKind != JsonValueKind.Null)
        {
            if (meta.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException(indexPath, null, $"the index's 'metadata' must be an object, not {JsonKinds.Describe(meta.ValueKind)}.");
            foreach (var entry in meta.EnumerateObject())
                metadata[entry.Name] = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : entry.Value.GetRawText();
        }
        return (weightMap, metadata);
    }

    /// <summary>Whether the checkpoint has a tensor of this name.</summary>
    public bool Contains(string name) => _shardOf.ContainsKey(name);

    /// <summary>The header entry of a tensor (offsets relative to its shard's data section).</summary>
    public SafeTensorInfo Info(string name) => FileOf(name).Info(name);

    /// <summary>The file holding a tensor.</summary>
    public SafeTensorsFile FileOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_shardOf.TryGetValue(name, out var file)) return file;
        throw new KeyNotFoundException($"Tensor '{name}' is not in checkpoint '{IndexPath ?? Path}' ({_shardOf.Count} tensors).");
    }

    /// <summary>Loads a tensor from its shard (see <see cref="SafeTensorsFile.Load"/>).</summary>
    public torch.Tensor Load(string name, torch.Device? device = null) => FileOf(name).Load(name, device);

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
