"""Go's math package, ported where its results differ from C's libm by an ulp.

Prometheus computes sin, cos, tan, asin, acos, atan, atan2, sinh and cosh with Go's own
Cephes-derived code (not the platform libm Python's `math` wraps), and promtool compares
floats bit for bit, so these follow Go's code step by step (Go on amd64 does not fuse
multiply-adds, so plain Python float arithmetic rounds the same). Arguments at or beyond
Go's reduceThreshold (2**29), where Go switches to Payne-Hanek reduction, fall back to
libm: the answers agree to within an ulp there.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

with localcontext() as _ctx:
    _ctx.prec = 60
    _PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
    _FOUR_OVER_PI = float(4 / _PI)  # Go folds constant expressions exactly, then rounds
    _THREE_PI_4 = float(3 * _PI / 4)
PI = math.pi
_PI4A = 7.85398125648498535156e-1
_PI4B = 3.77489470793079817668e-8
_PI4C = 2.69515142907905952645e-15
_REDUCE_THRESHOLD = float(1 << 29)
_SIN = (
    1.58962301576546568060e-10,
    -2.50507477628578072866e-8,
    2.75573136213857245213e-6,
    -1.98412698295895385996e-4,
    8.33333333332211858878e-3,
    -1.66666666666666307295e-1,
)
_COS = (
    -1.13585365213876817300e-11,
    2.08757008419747316778e-9,
    -2.75573141792967388112e-7,
    2.48015872888517045348e-5,
    -1.38888888888730564116e-3,
    4.16666666666665929218e-2,
)
_TAN_P = (-1.30936939181383777646e4, 1.15351664838587416140e6, -1.79565251976484877988e7)
_TAN_Q = (
    1.36812963470692954678e4,
    -1.32089234440210967447e6,
    2.50083801823357915839e7,
    -5.38695755929454629881e7,
)
_ATAN_P = (
    -8.750608600031904122785e-01,
    -1.615753718733365076637e01,
    -7.500855792314704667340e01,
    -1.228866684490136173410e02,
    -6.485021904942025371773e01,
)
_ATAN_Q = (
    2.485846490142306297962e01,
    1.650270098316988542046e02,
    4.328810604912902668951e02,
    4.853903996359136964868e02,
    1.945506571482613964425e02,
)
_SINH_P = (  # Hart & Cheney #2029, as in Go
    -0.6307673640497716991184787251e6,
    -0.8991272022039509355398013511e5,
    -0.2894211355989563807284660366e4,
    -0.2630563213397497062819489e2,
)
_SINH_Q = (
    -0.6307673640497716991212077277e6,
    0.1521517378790019070696485176e5,
    -0.173678953558233699533450911e3,
)


def _octant(x: float) -> tuple[int, float]:
    """Cody-Waite reduction of 0 <= x < 2**29 to an even octant and the remainder."""
    j = int(x * _FOUR_OVER_PI)
    y = float(j)
    if j & 1:
        j += 1
        y += 1
    return j, ((x - y * _PI4A) - y * _PI4B) - y * _PI4C


def _sin_poly(z: float, zz: float) -> float:
    s = _SIN
    return z + z * zz * ((((((s[0] * zz) + s[1]) * zz + s[2]) * zz + s[3]) * zz + s[4]) * zz + s[5])


def _cos_poly(zz: float) -> float:
    c = _COS
    poly = (((((c[0] * zz) + c[1]) * zz + c[2]) * zz + c[3]) * zz + c[4]) * zz + c[5]
    return 1.0 - 0.5 * zz + zz * zz * poly


def sin(x: float) -> float:
    if x == 0 or math.isnan(x):
        return x
    if math.isinf(x):
        return math.nan
    sign = x < 0
    x = abs(x)
    if x >= _REDUCE_THRESHOLD:
        return math.sin(-x if sign else x)
    j, z = _octant(x)
    j &= 7
    if j > 3:
        sign, j = not sign, j - 4
    zz = z * z
    y = _cos_poly(zz) if j in (1, 2) else _sin_poly(z, zz)
    return -y if sign else y


def cos(x: float) -> float:
    if math.isnan(x) or math.isinf(x):
        return math.nan
    x = abs(x)
    if x >= _REDUCE_THRESHOLD:
        return math.cos(x)
    j, z = _octant(x)
    j &= 7
    sign = False
    if j > 3:
        j, sign = j - 4, not sign
    if j > 1:
        sign = not sign
    zz = z * z
    y = _sin_poly(z, zz) if j in (1, 2) else _cos_poly(zz)
    return -y if sign else y


def tan(x: float) -> float:
    if x == 0 or math.isnan(x):
        return x
    if math.isinf(x):
        return math.nan
    sign = x < 0
    x = abs(x)
    if x >= _REDUCE_THRESHOLD:
        return math.tan(-x if sign else x)
    j, z = _octant(x)  # tan keeps the full octant count: only bit 1 matters
    zz = z * z
    if zz > 1e-14:
        p, q = _TAN_P, _TAN_Q
        num = zz * (((p[0] * zz) + p[1]) * zz + p[2])
        y = z + z * (num / ((((zz + q[0]) * zz + q[1]) * zz + q[2]) * zz + q[3]))
    else:
        y = z
    if j & 2:
        y = -1 / y
    return -y if sign else y


def _xatan(x: float) -> float:
    p, q = _ATAN_P, _ATAN_Q
    zz = x * x
    num = (((p[0] * zz + p[1]) * zz + p[2]) * zz + p[3]) * zz + p[4]
    den = ((((zz + q[0]) * zz + q[1]) * zz + q[2]) * zz + q[3]) * zz + q[4]
    z = zz * num / den
    return x * z + x


def _satan(x: float) -> float:
    more_bits = 6.123233995736765886130e-17  # pi/2 = PI/2 + more_bits
    if x <= 0.66:
        return _xatan(x)
    if x > 2.41421356237309504880:  # tan(3*pi/8)
        return PI / 2 - _xatan(1 / x) + more_bits
    return PI / 4 + _xatan((x - 1) / (x + 1)) + 0.5 * more_bits


def atan(x: float) -> float:
    if x == 0 or math.isnan(x):
        return x
    return _satan(x) if x > 0 else -_satan(-x)


def asin(x: float) -> float:
    if x == 0 or math.isnan(x):
        return x
    sign = x < 0
    x = abs(x)
    if x > 1:
        return math.nan
    temp = math.sqrt(1 - x * x)
    temp = PI / 2 - _satan(temp / x) if x > 0.7 else _satan(x / temp)
    return -temp if sign else temp


def acos(x: float) -> float:
    return PI / 2 - asin(x)


def atan2(y: float, x: float) -> float:
    if math.isnan(y) or math.isnan(x):
        return math.nan
    if y == 0:
        positive_x = x >= 0 and math.copysign(1.0, x) > 0
        return math.copysign(0.0 if positive_x else PI, y)
    if x == 0:
        return math.copysign(PI / 2, y)
    if math.isinf(x):
        if x > 0:
            return math.copysign(PI / 4 if math.isinf(y) else 0.0, y)
        return math.copysign(_THREE_PI_4 if math.isinf(y) else PI, y)
    if math.isinf(y):
        return math.copysign(PI / 2, y)
    q = atan(y / x)
    if x < 0:
        return q + PI if q <= 0 else q - PI
    return q


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def sinh(x: float) -> float:
    sign = x < 0
    x = abs(x)
    if x > 21:
        temp = _exp(x) / 2
    elif x > 0.5:
        temp = (_exp(x) - _exp(-x)) / 2
    else:
        p, q = _SINH_P, _SINH_Q
        sq = x * x
        temp = (((p[3] * sq + p[2]) * sq + p[1]) * sq + p[0]) * x
        temp = temp / (((sq + q[2]) * sq + q[1]) * sq + q[0])
    return -temp if sign else temp


def cosh(x: float) -> float:
    x = abs(x)
    if x > 21:
        return _exp(x) / 2
    return (_exp(x) + _exp(-x)) / 2
