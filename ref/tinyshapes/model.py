"""TinyShapes networks: SD 1.x's three models with exactly its topology and checkpoint names, narrow widths.

Every module attribute is named after the key it has in an original-layout SD 1.x single file, so that
`state_dict()` of the three modules, prefixed with `model.diffusion_model.`, `first_stage_model.` and
`cond_stage_model.transformer.`, *is* the checkpoint (see export.py). Nothing here is sdref-specific: the file
loads like any SD 1.5 fine-tune.

    text encoder  CLIP (HF names): token + position embedding, L pre-LN causal layers, quick_gelu, final LN
    U-Net         LDM `openaimodel.UNetModel`: input_blocks / middle_block / output_blocks, 2 res blocks a level,
                  spatial transformers at every level but the last, GEGLU feed-forward
    VAE           LDM `AutoencoderKL`: encoder.down.i.block.j, mid (block_1, attn_1, block_2), quant convs,
                  decoder.up.i.block.j (3 a level), 8x down
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

GROUPS = 32  # GroupNorm groups everywhere, as in SD


# ----------------------------------------------------------------------------------------------- text encoder
class ClipAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        B, T, D = x.shape
        h = self.heads
        q, k, v = (p(x).view(B, T, h, D // h).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        a = (q @ k.transpose(-1, -2)) / math.sqrt(D // h) + mask
        return self.out_proj((a.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))


class ClipMlp(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        x = self.fc1(x)
        return self.fc2(x * torch.sigmoid(1.702 * x))  # quick_gelu


class ClipLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.layer_norm1, self.self_attn = nn.LayerNorm(d), ClipAttention(d, heads)
        self.layer_norm2, self.mlp = nn.LayerNorm(d), ClipMlp(d)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self, vocab, d, ctx):
        super().__init__()
        self.token_embedding, self.position_embedding = nn.Embedding(vocab, d), nn.Embedding(ctx, d)


class ClipEncoder(nn.Module):
    def __init__(self, d, layers, heads):
        super().__init__()
        self.layers = nn.ModuleList(ClipLayer(d, heads) for _ in range(layers))


class ClipTextModel(nn.Module):
    def __init__(self, vocab, d, layers, heads, ctx):
        super().__init__()
        self.embeddings, self.encoder, self.final_layer_norm = ClipEmbeddings(vocab, d, ctx), ClipEncoder(d, layers, heads), nn.LayerNorm(d)
        self.register_buffer("mask", torch.full((ctx, ctx), float("-inf")).triu(1), persistent=False)

    def forward(self, ids):
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding.weight[: ids.shape[1]]
        for layer in self.encoder.layers:
            x = layer(x, self.mask)
        return self.final_layer_norm(x)  # SD 1.x's context: the last layer after the final LN


class TextEncoder(nn.Module):
    """`cond_stage_model.transformer` of an SD 1.x file (the HF CLIPTextModel)."""

    def __init__(self, vocab=49408, width=64, layers=4, heads=2, ctx=77):
        super().__init__()
        self.config = {"vocab": vocab, "width": width, "layers": layers, "heads": heads, "ctx": ctx, "act": "quick_gelu"}
        self.text_model = ClipTextModel(vocab, width, layers, heads, ctx)

    def forward(self, ids):
        return self.text_model(ids)


# ----------------------------------------------------------------------------------------------- U-Net
def timestep_embedding(t, dim):
    """LDM's sinusoidal embedding: [cos(t f_i), sin(t f_i)], f_i = 10000^(-i / (dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    """in_layers = [GN, SiLU, conv3x3], emb_layers = [SiLU, Linear], out_layers = [GN, SiLU, Dropout, conv3x3]."""

    def __init__(self, cin, cout, emb):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(GROUPS, cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb, cout))
        self.out_layers = nn.Sequential(nn.GroupNorm(GROUPS, cout), nn.SiLU(), nn.Dropout(0.0), nn.Conv2d(cout, cout, 3, padding=1))
        self.skip_connection = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.in_layers(x) + self.emb_layers(emb)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Attention(nn.Module):
    def __init__(self, d, context, heads):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v = nn.Linear(d, d, bias=False), nn.Linear(context, d, bias=False), nn.Linear(context, d, bias=False)
        self.to_out = nn.Sequential(nn.Linear(d, d), nn.Dropout(0.0))

    def forward(self, x, ctx):
        B, N, D = x.shape
        h = self.heads
        q = self.to_q(x).view(B, N, h, D // h).transpose(1, 2)
        k = self.to_k(ctx).view(B, ctx.shape[1], h, D // h).transpose(1, 2)
        v = self.to_v(ctx).view(B, ctx.shape[1], h, D // h).transpose(1, 2)
        a = ((q @ k.transpose(-1, -2)) / math.sqrt(D // h)).softmax(-1)
        return self.to_out((a @ v).transpose(1, 2).reshape(B, N, D))


class GEGLU(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.proj = nn.Linear(d, 2 * inner)

    def forward(self, x):
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.net = nn.Sequential(GEGLU(d, 4 * d), nn.Dropout(0.0), nn.Linear(4 * d, d))

    def forward(self, x):
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    def __init__(self, d, context, heads):
        super().__init__()
        self.attn1, self.attn2, self.ff = Attention(d, d, heads), Attention(d, context, heads), FeedForward(d)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x, ctx):
        x = x + self.attn1(self.norm1(x), self.norm1(x))
        x = x + self.attn2(self.norm2(x), ctx)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """SD 1.x: GN, 1x1 conv proj_in, one transformer block over the H*W tokens, 1x1 conv proj_out, residual."""

    def __init__(self, c, context, heads):
        super().__init__()
        self.norm = nn.GroupNorm(GROUPS, c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(c, context, heads)])
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, ctx):
        B, C, H, W = x.shape
        h = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        for block in self.transformer_blocks:
            h = block(h, ctx)
        return x + self.proj_out(h.transpose(1, 2).reshape(B, C, H, W))


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.op = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Step(nn.ModuleList):
    """One entry of input_blocks / output_blocks: a ResBlock, maybe a SpatialTransformer, maybe a resampler."""

    def forward(self, x, emb, ctx):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x, ctx) if isinstance(layer, SpatialTransformer) else layer(x)
        return x


class UNet(nn.Module):
    """`model.diffusion_model` of an SD 1.x file. channels[i] per level; attention at every level but the last."""

    def __init__(self, channels=(96, 64, 64, 96), context=64, heads=(3, 2, 2, 3), in_ch=4, layers=2):
        super().__init__()
        c0, emb = channels[0], 4 * channels[0]
        levels = len(channels)
        self.channels, self.heads, self.context = list(channels), list(heads), context  # for export.py's config
        attention = [i < levels - 1 for i in range(levels)]
        self.time_embed = nn.Sequential(nn.Linear(c0, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.input_blocks = nn.ModuleList([Step([nn.Conv2d(in_ch, c0, 3, padding=1)])])
        skips, ch = [c0], c0
        for i, c in enumerate(channels):
            for _ in range(layers):
                step = [ResBlock(ch, c, emb)] + ([SpatialTransformer(c, context, heads[i])] if attention[i] else [])
                self.input_blocks.append(Step(step))
                ch = c
                skips.append(ch)
            if i < levels - 1:
                self.input_blocks.append(Step([Downsample(ch)]))
                skips.append(ch)
        self.middle_block = Step([ResBlock(ch, ch, emb), SpatialTransformer(ch, context, heads[-1]), ResBlock(ch, ch, emb)])
        self.output_blocks = nn.ModuleList()
        for i in reversed(range(levels)):
            c = channels[i]
            for j in range(layers + 1):
                step = [ResBlock(ch + skips.pop(), c, emb)] + ([SpatialTransformer(c, context, heads[i])] if attention[i] else [])
                ch = c
                if i > 0 and j == layers:
                    step.append(Upsample(ch))
                self.output_blocks.append(Step(step))
        self.out = nn.Sequential(nn.GroupNorm(GROUPS, ch), nn.SiLU(), nn.Conv2d(ch, in_ch, 3, padding=1))
        self.c0 = c0

    def forward(self, x, t, ctx):
        emb = self.time_embed(timestep_embedding(t, self.c0))
        hs = []
        for step in self.input_blocks:
            x = step(x, emb, ctx)
            hs.append(x)
        x = self.middle_block(x, emb, ctx)
        for step in self.output_blocks:
            x = step(torch.cat([x, hs.pop()], dim=1), emb, ctx)
        return self.out(x)


# ----------------------------------------------------------------------------------------------- VAE
class VaeResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(GROUPS, cin, eps=1e-6), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(GROUPS, cout, eps=1e-6), nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class VaeAttention(nn.Module):
    """attn_1: GN, single-head attention over the pixels with 1x1 convs q, k, v, proj_out, residual."""

    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(GROUPS, c, eps=1e-6)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.norm(x)
        q, k, v = (p(h).flatten(2) for p in (self.q, self.k, self.v))  # B C N
        a = ((q.transpose(1, 2) @ k) / math.sqrt(C)).softmax(-1)  # B N N
        return x + self.proj_out((v @ a.transpose(1, 2)).view(B, C, H, W))


class VaeLevel(nn.Module):
    """encoder.down.i / decoder.up.i: res blocks `block.j`, then maybe `downsample.conv` / `upsample.conv`."""

    def __init__(self, blocks, resample=None, conv=None):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        if conv is not None:
            setattr(self, resample, nn.Module())
            getattr(self, resample).conv = conv


class VaeMid(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = VaeResBlock(c, c), VaeAttention(c), VaeResBlock(c, c)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, ch, z):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        self.down, prev = nn.ModuleList(), ch[0]
        for i, c in enumerate(ch):
            blocks = [VaeResBlock(prev, c), VaeResBlock(c, c)]  # (created before the conv: the seeded init's order)
            self.down.append(VaeLevel(blocks, "downsample", nn.Conv2d(c, c, 3, stride=2) if i < len(ch) - 1 else None))
            prev = c
        self.mid, self.norm_out, self.conv_out = VaeMid(prev), nn.GroupNorm(GROUPS, prev, eps=1e-6), nn.Conv2d(prev, 2 * z, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.down:
            for b in level.block:
                h = b(h)
            if hasattr(level, "downsample"):
                h = level.downsample.conv(F.pad(h, (0, 1, 0, 1)))
        return self.conv_out(F.silu(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    def __init__(self, ch, z):
        super().__init__()
        top = ch[-1]
        self.conv_in, self.mid = nn.Conv2d(z, top, 3, padding=1), VaeMid(top)
        ups, prev = [], top
        for i in reversed(range(len(ch))):  # up.i runs from the coarsest level (i = levels-1) to the finest
            c = ch[i]
            blocks = [VaeResBlock(prev, c), VaeResBlock(c, c), VaeResBlock(c, c)]
            ups.append(VaeLevel(blocks, "upsample", nn.Conv2d(c, c, 3, padding=1) if i > 0 else None))
            prev = c
        self.up = nn.ModuleList(reversed(ups))
        self.norm_out, self.conv_out = nn.GroupNorm(GROUPS, prev, eps=1e-6), nn.Conv2d(prev, 3, 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            for b in level.block:
                h = b(h)
            if hasattr(level, "upsample"):
                h = level.upsample.conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    """`first_stage_model`: images in [-1, 1] <-> latents (the U-Net sees latent * 0.18215)."""

    def __init__(self, channels=(64, 64, 64, 64), z=4):
        super().__init__()
        self.channels, self.z = list(channels), z
        self.encoder, self.decoder = Encoder(channels, z), Decoder(channels, z)
        self.quant_conv, self.post_quant_conv = nn.Conv2d(2 * z, 2 * z, 1), nn.Conv2d(z, z, 1)

    def encode(self, x):
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ----------------------------------------------------------------------------------------------- schedule
def sd_alphas_cumprod(steps=1000, beta_start=0.00085, beta_end=0.012):
    """SD 1.x's "scaled_linear" schedule: betas = linspace(sqrt(b0), sqrt(b1))^2."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


def count(m):
    return sum(p.numel() for p in m.parameters())
