namespace LoraKit.Rules;

/// <summary>Invariant number formatting for every user-facing LoraKit message.</summary>
public static class Format
{
    /// <summary>6738415616 → "6,738,415,616".</summary>
    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Up to four decimals, no trailing zeros: 0.05 → "0.05", 2 → "2", 2/3 → "0.6667".</summary>
    public static string Number(double d) => d.ToString("0.####", CultureInfo.InvariantCulture);

    /// <summary>A percentage with three decimals: 0.0311 → "0.031 %".</summary>
    public static string Percent(double p) => p.ToString("0.000", CultureInfo.InvariantCulture) + " %";

    /// <summary>Bytes as GiB with two decimals.</summary>
    public static string GiB(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB";
}
