using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.IO.MemoryMappedFiles;
using LoraKit.IO;
using TorchSharp;

namespace LoraKit.SafeTensors;

/// <summary>
/// A safetensors file opened for reading. The file is memory-mapped read-only; the header is parsed
/// and fully validated on <see cref="Open"/> (see <see cref="SafeTensorsFormatException"/>), and
/// tensors are copied straight from the mapping into the storage of new tensors by <see cref="Load"/>.
/// Reading (<see cref="GetBytes"/>, <see cref="CopyTo"/>, <see cref="Load"/>) is thread-safe.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Bytes copied per step when filling a tensor (keeps each span well below 2 GB).</summary>
    private const long CopyChunkBytes = 1L << 30;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _data;
    private readonly long _dataLength;
    private readonly Dictionary<string, SafeTensorInfo> _byName;
    private int _disposed;

    private SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer,
        long headerLength, long dataLength, List<SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _view = view;
        _data = basePointer + 8 + headerLength;
        HeaderLength = headerLength;
        _dataLength = dataLength;
        Tensors = tensors.AsReadOnly();
        Metadata = new ReadOnlyDictionary<string, string>(metadata);
        _byName = new Dictionary<string, SafeTensorInfo>(tensors.Count, StringComparer.Ordinal);
        foreach (var t in tensors) _byName.Add(t.Name, t);
    }

    /// <summary>The full path of the file.</summary>
    public string Path { get; }

    /// <summary>The tensors, in the order the header lists them.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>N, the byte length of the JSON header (including its padding).</summary>
    public long HeaderLength { get; }

    /// <summary>The byte length of the data section (file length − 8 − N).</summary>
    public long DataLength => _dataLength;

    /// <summary>Opens and validates a safetensors file.</summary>
    /// <exception cref="SafeTensorsFormatException">The file is not a valid safetensors file.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var fullPath = System.IO.Path.GetFullPath(path);
        InputFile.RequireRegularFile(fullPath, "safetensors file");
        var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        var acquired = false;
        try
        {
            var fileLength = stream.Length;
            if (fileLength < 8)
                throw new SafeTensorsFormatException(fullPath, null,
                    $"the file is {fileLength} bytes long, shorter than the 8-byte header length prefix.");

            Span<byte> prefix = stackalloc byte[8];
            stream.ReadExactly(prefix);
            var n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            // Both checks come before any allocation sized by n.
            if (n > (ulong)SafeTensorsHeader.MaxHeaderBytes)
                throw new SafeTensorsFormatException(fullPath, null,
                    $"the header length {n} exceeds the limit of {SafeTensorsHeader.MaxHeaderBytes} bytes.");
            if (n > (ulong)(fileLength - 8))
                throw new SafeTensorsFormatException(fullPath, null,
                    $"the header length {n} is larger than the {fileLength - 8} bytes that follow the length prefix (truncated file?).");
            var headerLength = (long)n;
            var dataLength = fileLength - 8 - headerLength;

            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* basePointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
            acquired = true;
            basePointer += view.PointerOffset;

            // The header is at most 100 MB (checked above); JsonDocument needs it in managed memory.
            var header = new ReadOnlySpan<byte>(basePointer + 8, (int)headerLength).ToArray();
            var (tensors, metadata) = SafeTensorsHeader.Parse(header, dataLength, fullPath);
            return new SafeTensorsFile(fullPath, map, view, basePointer, headerLength, dataLength, tensors, metadata);
        }
        catch
        {
            if (acquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Whether the header lists a tensor of this name.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header entry of a tensor.</summary>
    /// <exception cref="KeyNotFoundException">No tensor of that name; the message names the file.</exception>
    public SafeTensorInfo Info(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out var info)) return info;
        throw new KeyNotFoundException($"Tensor '{name}' is not in safetensors file '{Path}' ({Tensors.Count} tensors).");
    }

    /// <summary>
    /// The raw little-endian bytes of a tensor, straight from the mapping (no copy). Valid until the
    /// file is disposed. Tensors of 2 GB or more do not fit a span: use <see cref="CopyTo"/> or <see cref="Load"/>.
    /// </summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = Info(name);
        ThrowIfDisposed();
        if (info.ByteLength > int.MaxValue)
            throw new NotSupportedException($"Tensor '{name}' of '{Path}' is {info.ByteLength} bytes, too large for a span; use CopyTo or Load.");
        return new ReadOnlySpan<byte>(_data + info.Begin, (int)info.ByteLength);
    }

    /// <summary>Copies a tensor's raw bytes, starting <paramref name="offset"/> bytes into it, to <paramref name="destination"/>.</summary>
    public void CopyTo(string name, Span<byte> destination, long offset = 0)
    {
        var info = Info(name);
        ThrowIfDisposed();
        if (offset < 0 || offset > info.ByteLength || destination.Length > info.ByteLength - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Bytes [{offset}, {offset + destination.Length}) lie outside tensor '{name}' of {info.ByteLength} bytes.");
        new ReadOnlySpan<byte>(_data + info.Begin + offset, destination.Length).CopyTo(destination);
    }

    /// <summary>
    /// Loads a tensor: a new CPU tensor of the matching scalar type and shape is filled straight from the
    /// mapping, then moved to <paramref name="device"/> when one other than the CPU is given.
    /// </summary>
    public torch.Tensor Load(string name, torch.Device? device = null)
    {
        var info = Info(name);
        ThrowIfDisposed();
        var tensor = torch.empty(info.Shape, info.DType.ToScalarType());
        try
        {
            Fill(tensor, _data + info.Begin, info.ByteLength);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
        if (device is null || device.type == DeviceType.CPU) return tensor;
        var moved = tensor.to(device);
        tensor.Dispose();
        return moved;
    }

    /// <summary>Copies <paramref name="byteLength"/> bytes into a new, contiguous CPU tensor of that many bytes.</summary>
    internal static void Fill(torch.Tensor tensor, byte* source, long byteLength, long chunkBytes = CopyChunkBytes)
    {
        if (byteLength == 0) return;
        if (byteLength <= chunkBytes)
        {
            new ReadOnlySpan<byte>(source, (int)byteLength).CopyTo(tensor.bytes);
            return;
        }
        var elementSize = tensor.element_size();
        var chunkElements = Math.Max(1, chunkBytes / elementSize);
        using var flat = tensor.view(-1);
        var total = flat.shape[0];
        for (long start = 0; start < total; start += chunkElements)
        {
            var count = Math.Min(chunkElements, total - start);
            using var part = flat.narrow(0, start, count);
            new ReadOnlySpan<byte>(source + start * elementSize, checked((int)(count * elementSize))).CopyTo(part.bytes);
        }
    }

    /// <summary>Test hook: <see cref="Fill"/> from a managed array with a chosen chunk size.</summary>
    internal static void Fill(torch.Tensor tensor, byte[] source, long chunkBytes)
    {
        fixed (byte* p = source) Fill(tensor, p, source.Length, chunkBytes);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);

    public void Dispose()
    {
        if (System.Threading.Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    public override string ToString() => $"SafeTensorsFile({Path}, {Tensors.Count} tensors)";
}
