using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ingestion.Platform.Hosting;

public static class OptionsExtensions
{
    /// <summary>
    /// Options bound from <paramref name="section"/>, checked against their data annotations
    /// when the host starts (a bad setting stops the start, not a request hours later). Chain
    /// <c>.Validate(…)</c> for rules across properties.
    /// </summary>
    public static OptionsBuilder<T> AddValidatedOptions<T>(this IServiceCollection services, string section)
        where T : class =>
        services.AddOptions<T>()
            .BindConfiguration(section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
}
