namespace LoraKit.Lora;

/// <summary>A LoRA runtime error with its LORA diagnostic ID (e.g. LORA1004 for a target that matches nothing).</summary>
public sealed class LoraException : Exception
{
    public LoraException(string id, string message) : base($"{id}: {message}")
    {
        Id = id;
        Detail = message;
    }

    public string Id { get; }

    /// <summary>The message without its ID.</summary>
    public string Detail { get; }
}
